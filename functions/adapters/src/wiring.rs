//! One wiring shape for every function. A function is a [`Function`]: its configuration read
//! from [`Vars`] (the environment template.yaml gives it), then its handler built from that
//! configuration and the [`Edges`] it runs on. A Lambda's `main.rs` is [`cold_start`] plus the
//! runtime that fits the trigger; the local stack builds every handler through the same two
//! steps, with the template's variables resolved to its own resources and its own edges
//! (counted AWS clients, the recording event bus, the handlers' clock, crash points).

use std::future::Future;
use std::sync::Arc;

use aws_types::SdkConfig;
use einvoice_domain::{Clock, SystemClock};

use crate::config::{ConfigError, ProcessEnv, Vars};
use crate::crash::CrashPoints;
use crate::crypto::MasterKeys;
use crate::events::{EventBridgePublisher, EventPublisher};
use crate::mail::{Mailer, SesMailer};
use crate::payment::{HttpPaymentGateway, PaymentGateway};
use crate::secret::Secret;
use crate::store::Store;
use crate::stream::StreamSettled;
use crate::wixtar::{HttpWixtarClient, WixtarClient};

/// What a function's dependencies are built from. Every method but [`Edges::sdk`] has the
/// deployed behaviour as its default.
pub trait Edges: Send + Sync {
    /// The AWS SDK configuration (Lambda's environment; moto locally).
    fn sdk(&self) -> &SdkConfig;

    /// The state table.
    fn store(&self, table_name: &str) -> Store {
        Store::new(aws_sdk_dynamodb::Client::new(self.sdk()), table_name)
    }

    /// The event bus.
    fn events(&self, bus_name: &str) -> Arc<dyn EventPublisher> {
        Arc::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(self.sdk()), bus_name))
    }

    fn wixtar(&self, api_url: &str) -> Arc<dyn WixtarClient> {
        Arc::new(HttpWixtarClient::new(api_url))
    }

    fn gateway(&self, url: &str) -> Arc<dyn PaymentGateway> {
        Arc::new(HttpPaymentGateway::new(url))
    }

    /// SES, sending from `from`.
    fn mailer(&self, from: &str) -> Arc<dyn Mailer> {
        Arc::new(SesMailer::new(SesMailer::client(self.sdk()), from))
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    /// Crash points (armed only by the local stack, and compiled in only with the feature).
    fn crash_points(&self) -> Arc<CrashPoints> {
        Arc::default()
    }

    /// Where the table's stream hand-off can be waited for: the local stack only (AWS runs the
    /// stream's consumer later, in another Lambda).
    fn stream_settled(&self) -> Option<Arc<dyn StreamSettled>> {
        None
    }

    /// Secrets Manager values, read once at cold start, in the order of `ids`.
    fn secrets<const N: usize>(&self, ids: [&str; N]) -> impl Future<Output = Result<[Secret; N], ConfigError>> + Send {
        async move { crate::aws::read_secrets(self.sdk(), ids).await.map_err(ConfigError) }
    }

    /// The credential master key set (the sealed Wixtar credentials' keys), read once at cold
    /// start from the secret `secret_id`.
    fn master_keys(&self, secret_id: &str) -> impl Future<Output = Result<MasterKeys, ConfigError>> + Send {
        async move {
            let [master] = self.secrets([secret_id]).await?;
            Ok(MasterKeys::from_secret(&master)?)
        }
    }
}

/// A Lambda's edges: everything as deployed.
#[derive(Debug, Clone)]
pub struct LambdaEdges {
    pub sdk: SdkConfig,
}

impl Edges for LambdaEdges {
    fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }
}

/// A function: how its cold start builds its handler.
pub trait Function: Sized + Send + Sync + 'static {
    type Config;

    /// Reads the configuration (fatal at cold start when something is missing).
    fn config(vars: &impl Vars) -> Result<Self::Config, ConfigError>;

    /// Builds the handler and what it depends on.
    fn wire(config: &Self::Config, edges: &impl Edges) -> impl Future<Output = Result<Self, ConfigError>> + Send;
}

/// Reads the configuration from `vars` and wires the function on `edges`.
pub async fn build<F: Function>(vars: &impl Vars, edges: &impl Edges) -> Result<F, ConfigError> {
    F::wire(&F::config(vars)?, edges).await
}

/// A Lambda's cold start: tracing, the SDK from Lambda's environment, then [`build`].
pub async fn cold_start<F: Function>() -> Result<Arc<F>, ConfigError> {
    crate::telemetry::init();
    let edges = LambdaEdges { sdk: crate::aws::sdk_config().await };
    build::<F>(&ProcessEnv, &edges).await.map(Arc::new)
}
