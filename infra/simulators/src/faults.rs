//! `POST /_sim/faults {"mode": "error"|"timeout", "count": N}`: the next N provider calls fail.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer HTTP 500.
    Error,
    /// Hold the request past the client's timeout, then answer 504.
    Timeout,
}

#[derive(Debug, Deserialize)]
pub struct FaultRequest {
    pub mode: FaultMode,
    pub count: u32,
}

/// How long a "timeout" fault holds a request: longer than the clients' 8 s timeout.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Faults(Mutex<Option<(FaultMode, u32)>>);

impl Faults {
    pub fn set(&self, req: FaultRequest) {
        *self.0.lock().unwrap() = (req.count > 0).then_some((req.mode, req.count));
    }

    /// Takes one fault if any is armed.
    pub fn take(&self) -> Option<FaultMode> {
        let mut guard = self.0.lock().unwrap();
        let (mode, left) = (*guard)?;
        *guard = (left > 1).then_some((mode, left - 1));
        Some(mode)
    }

    /// Fails the current call if a fault is armed.
    pub async fn inject(&self) -> Option<Response> {
        match self.take()? {
            FaultMode::Error => Some((StatusCode::INTERNAL_SERVER_ERROR, "injected error").into_response()),
            FaultMode::Timeout => {
                tokio::time::sleep(TIMEOUT_HOLD).await;
                Some((StatusCode::GATEWAY_TIMEOUT, "injected timeout").into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down() {
        let f = Faults::default();
        f.set(FaultRequest { mode: FaultMode::Error, count: 2 });
        assert_eq!(f.take(), Some(FaultMode::Error));
        assert_eq!(f.take(), Some(FaultMode::Error));
        assert_eq!(f.take(), None);
    }
}
