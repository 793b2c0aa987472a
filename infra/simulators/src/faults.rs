//! `POST /_sim/faults {"mode": "error"|"timeout"|"error_after", "count": N}`: the next N
//! provider calls fail — before doing anything, or (`error_after`) after doing the work, as
//! when the answer is lost or the caller crashes before recording it.

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
    /// Do the work (record the charge, the upload…), then answer HTTP 500.
    ErrorAfter,
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

    /// Takes one fault if one of `modes` is armed.
    pub fn take(&self, modes: &[FaultMode]) -> Option<FaultMode> {
        let mut guard = self.0.lock().unwrap();
        let (mode, left) = (*guard).filter(|(m, _)| modes.contains(m))?;
        *guard = (left > 1).then_some((mode, left - 1));
        Some(mode)
    }

    /// Fails the current call before it does anything, if such a fault is armed.
    pub async fn inject(&self) -> Option<Response> {
        match self.take(&[FaultMode::Error, FaultMode::Timeout])? {
            FaultMode::Timeout => {
                tokio::time::sleep(TIMEOUT_HOLD).await;
                Some((StatusCode::GATEWAY_TIMEOUT, "injected timeout").into_response())
            }
            _ => Some((StatusCode::INTERNAL_SERVER_ERROR, "injected error").into_response()),
        }
    }

    /// The answer to a call whose work is done: an injected 500 if `error_after` is armed.
    pub fn after(&self, done: Response) -> Response {
        match self.take(&[FaultMode::ErrorAfter]) {
            Some(_) => (StatusCode::INTERNAL_SERVER_ERROR, "injected error after the work was done").into_response(),
            None => done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down() {
        let f = Faults::default();
        let all = [FaultMode::Error, FaultMode::Timeout, FaultMode::ErrorAfter];
        f.set(FaultRequest { mode: FaultMode::Error, count: 2 });
        assert_eq!(f.take(&all), Some(FaultMode::Error));
        assert_eq!(f.take(&[FaultMode::ErrorAfter]), None, "another mode leaves it armed");
        assert_eq!(f.take(&all), Some(FaultMode::Error));
        assert_eq!(f.take(&all), None);
    }
}
