//! Every AWS call the functions make, counted at the SDK (an interceptor on the local stack's
//! DynamoDB and EventBridge clients, one entry per attempt sent to moto) and attributed to the
//! function whose handler made it: what the end-to-end tests hold to issue 7's call budget.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    /// The template's logical id of the function running on this task.
    static FUNCTION: String;
}

/// Runs `work` as the function `name` (its AWS calls are attributed to it).
pub async fn as_function<F: std::future::Future>(name: &str, work: F) -> F::Output {
    FUNCTION.scope(name.to_owned(), work).await
}

/// Invokes `work` as the function `name` in its own task, as Lambda runs an invocation: to
/// completion whoever waits for it, and a crash (panic) ends only that task.
pub fn invoke<F>(name: &str, work: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(FUNCTION.scope(name.to_owned(), work))
}

/// One call: `function` (`-` outside any handler), `service` (`DynamoDB`, `EventBridge`) and
/// operation (`BatchGetItem`, `PutEvents`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCall {
    pub function: String,
    pub service: String,
    pub operation: String,
}

/// The calls made since the stack started or since the last [`AwsCalls::take`].
#[derive(Debug, Default)]
pub struct AwsCalls {
    calls: Mutex<Vec<AwsCall>>,
    /// Woken after every DynamoDB call: the stream poller reads the stream then, instead of
    /// polling moto in a tight loop.
    pub table_touched: tokio::sync::Notify,
}

impl AwsCalls {
    /// The calls so far, forgetting them.
    pub fn take(&self) -> Vec<AwsCall> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many calls `function` made to `service`.
    pub fn count(calls: &[AwsCall], function: &str, service: &str) -> usize {
        calls.iter().filter(|c| c.function == function && c.service == service).count()
    }

    /// An interceptor recording into this log, for an SDK client's config.
    pub fn interceptor(self: &Arc<Self>) -> CountCalls {
        CountCalls { log: self.clone() }
    }
}

#[derive(Debug)]
pub struct CountCalls {
    log: Arc<AwsCalls>,
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(&self, _: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let (service, operation) = cfg.load::<Metadata>().map_or(("?".into(), "?".into()), |m| (m.service().to_owned(), m.name().to_owned()));
        let function = FUNCTION.try_with(Clone::clone).unwrap_or_else(|_| "-".into());
        self.log.calls.lock().unwrap_or_else(|e| e.into_inner()).push(AwsCall { function, service, operation });
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Metadata>().is_some_and(|m| m.service() == "DynamoDB") {
            self.log.table_touched.notify_one();
        }
        Ok(())
    }
}
