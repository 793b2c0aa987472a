//! Crash points: named places in the functions where the local stack can make a handler stop
//! dead, as if its Lambda died there (out of memory, timeout, host lost). Recovery is proven
//! by crashing at each of them.
//!
//! They are a test hook: compiled in only with the `crash-points` feature, which the local
//! stack (and so every end-to-end test) turns on and `sam build` does not. Without it a
//! [`CrashPoint`] is an empty value, [`CrashPoints::pass`] is an empty inline function and no
//! point's name exists in the binary (`./infra/test` checks the deployed-profile build).
//! Why not the `fail` crate: its registry is process-global, and the local stack runs several
//! stacks in one process (one per end-to-end test under `cargo test`), each arming its own.

#[cfg(feature = "crash-points")]
use std::collections::BTreeMap;
#[cfg(feature = "crash-points")]
use std::sync::Mutex;

/// One place a handler can crash, and what has happened by then.
#[cfg(feature = "crash-points")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CrashPoint {
    pub name: &'static str,
    pub after: &'static str,
}

/// Without the `crash-points` feature: nothing, not even the name.
#[cfg(not(feature = "crash-points"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPoint;

macro_rules! crash_point {
    ($(#[$doc:meta])* $id:ident = $name:literal, $after:literal) => {
        $(#[$doc])*
        #[cfg(feature = "crash-points")]
        pub const $id: CrashPoint = CrashPoint { name: $name, after: $after };
        $(#[$doc])*
        #[cfg(not(feature = "crash-points"))]
        pub const $id: CrashPoint = CrashPoint;
    };
}

crash_point!(
    /// order-webhook: the order write that claims an invoice is committed; the answer is not sent.
    AFTER_CLAIM = "order-webhook/after-claim", "the order write that claims an invoice (or a return)"
);
crash_point!(
    /// invoice-issuer: a number is taken from the 字軌 counter; no invoice records it yet.
    AFTER_NUMBER_RESERVED = "invoice-issuer/after-number-reserved", "an invoice number is reserved, before the invoice is recorded"
);
crash_point!(
    /// invoice-issuer: the invoice, its number guard and the order's `issued` are committed.
    AFTER_INVOICE_RECORDED = "invoice-issuer/after-invoice-recorded", "the invoice is recorded, before it is uploaded"
);
crash_point!(
    /// invoice-issuer: Wixtar accepted the upload; the acceptance is not recorded yet.
    AFTER_UPLOAD_ACCEPTED = "invoice-issuer/after-upload-accepted", "Wixtar accepted the upload, before that is recorded"
);
crash_point!(
    /// invoice-issuer: Wixtar accepted a void or an allowance; it is not recorded yet.
    AFTER_RETURN_ACCEPTED = "invoice-issuer/after-return-accepted", "Wixtar accepted a void or an allowance, before that is recorded"
);

crash_point!(
    /// invoice-prizes: a winner is marked on its invoice; nobody is told yet.
    AFTER_PRIZE_MARKED = "invoice-prizes/after-prize-marked", "a winning invoice is marked, before the winner and the merchant are told"
);

/// Every crash point the functions define.
pub const ALL: [CrashPoint; 6] =
    [AFTER_CLAIM, AFTER_NUMBER_RESERVED, AFTER_INVOICE_RECORDED, AFTER_UPLOAD_ACCEPTED, AFTER_RETURN_ACCEPTED, AFTER_PRIZE_MARKED];

/// The panic payload of a crash: the local stack tells a crash from a bug by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crashed(pub &'static str);

/// Which crash points are armed, and for how many passes.
#[derive(Debug, Default)]
pub struct CrashPoints {
    #[cfg(feature = "crash-points")]
    armed: Mutex<BTreeMap<&'static str, u32>>,
}

#[cfg(feature = "crash-points")]
impl CrashPoints {
    /// Makes the next `count` passes through `name` crash (0 disarms); `false` for an unknown
    /// name.
    pub fn arm(&self, name: &str, count: u32) -> bool {
        let Some(point) = ALL.iter().find(|p| p.name == name) else { return false };
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        match count {
            0 => armed.remove(point.name),
            n => armed.insert(point.name, n),
        };
        true
    }

    /// Passes left per armed point.
    pub fn armed(&self) -> BTreeMap<&'static str, u32> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Passes `point`: when it is armed, the handler stops here (it unwinds with [`Crashed`],
    /// running none of its remaining code, as a dead Lambda would not).
    pub fn pass(&self, point: CrashPoint) {
        let crash = {
            let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
            match armed.get_mut(point.name) {
                Some(left) => {
                    *left -= 1;
                    if *left == 0 {
                        armed.remove(point.name);
                    }
                    true
                }
                None => false,
            }
        };
        if crash {
            tracing::warn!(crash_point = point.name, "crash point reached: the handler stops here");
            std::panic::resume_unwind(Box::new(Crashed(point.name)));
        }
    }
}

#[cfg(not(feature = "crash-points"))]
impl CrashPoints {
    /// Deployed build: nothing to crash.
    #[inline(always)]
    pub fn pass(&self, _point: CrashPoint) {}
}

#[cfg(all(test, feature = "crash-points"))]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_crashes_count_times_then_passes() {
        let points = CrashPoints::default();
        assert!(points.arm(AFTER_CLAIM.name, 2));
        for _ in 0..2 {
            let payload = std::panic::catch_unwind(|| points.pass(AFTER_CLAIM)).expect_err("crashes");
            assert_eq!(payload.downcast_ref::<Crashed>(), Some(&Crashed(AFTER_CLAIM.name)));
        }
        points.pass(AFTER_CLAIM);
        assert!(points.armed().is_empty());
    }

    #[test]
    fn unknown_points_are_refused_and_zero_disarms() {
        let points = CrashPoints::default();
        assert!(!points.arm("nowhere", 1));
        assert!(points.arm(AFTER_UPLOAD_ACCEPTED.name, 3));
        assert_eq!(points.armed().get(AFTER_UPLOAD_ACCEPTED.name), Some(&3));
        assert!(points.arm(AFTER_UPLOAD_ACCEPTED.name, 0));
        points.pass(AFTER_UPLOAD_ACCEPTED);
        points.pass(AFTER_NUMBER_RESERVED);
    }
}
