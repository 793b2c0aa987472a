//! 訂單狀態: what is known of an order after any number of its webhooks, however they arrive.
//! Statuses only move forward (payment unpaid < paid < refunded; delivery pending < shipped <
//! received < returned; once cancelled, always cancelled), so merging events is commutative
//! and idempotent on them. Content (lines, amounts, buyer, logistics) comes from the event
//! that occurred last; how far ahead or back that may be is [`check_occurred_at`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Order;
use crate::rule::RuleViolation;

/// How far ahead of "now" an event's `occurred_at` may be: the platform's clock and ours may
/// disagree by this much (the same 300 s a request signature's `t` may be off by).
pub const EVENT_TIME_AHEAD: chrono::TimeDelta = chrono::TimeDelta::seconds(300);

/// The earliest `occurred_at` accepted: 2006-01-01 00:00 Asia/Taipei. Taiwan allowed
/// e-invoices between businesses from 2000 and, about five years later, from online sellers to
/// consumers, which is what a shop platform issues; no order event of ours can be older
/// (docs/invoices.md §2, with sources).
pub fn earliest_event_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2006-01-01T00:00:00+08:00").expect("a valid time").to_utc()
}

/// Whether an event's `occurred_at` may be merged: not more than [`EVENT_TIME_AHEAD`] after
/// "now" and not before [`earliest_event_time`]. "Now" is the later of the wall clock and the
/// handler's clock (the same in AWS; a test's clock set ahead carries its events' times with
/// it). A time far ahead would otherwise win the content merge forever
/// ([`OrderState::merge`]): every real event would be older than it.
pub fn check_occurred_at(occurred_at: DateTime<Utc>, wall: DateTime<Utc>, clock: DateTime<Utc>) -> Result<(), RuleViolation> {
    let now = wall.max(clock);
    let latest = now + EVENT_TIME_AHEAD;
    if occurred_at > latest {
        let ahead = (occurred_at - now).num_seconds();
        return Err(RuleViolation::on_field(
            "invalid_occurred_at",
            "occurred_at",
            format!("occurred_at is {ahead} s ahead of now; at most {} s ahead is accepted", EVENT_TIME_AHEAD.num_seconds()),
        ));
    }
    if occurred_at < earliest_event_time() {
        return Err(RuleViolation::on_field("invalid_occurred_at", "occurred_at", "occurred_at is before 2006-01-01 (Asia/Taipei), when e-invoicing began"));
    }
    Ok(())
}

/// What is known of an order after any number of its webhooks: statuses merged forward,
/// content from the event that occurred last (`content_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// The latest content, carrying the merged statuses.
    pub order: Order,
    /// `occurred_at` of the event the content comes from.
    pub content_at: DateTime<Utc>,
}

impl OrderState {
    pub fn new(order: Order, occurred_at: DateTime<Utc>) -> Self {
        Self { order, content_at: occurred_at }
    }

    /// Folds in another event of the same order (the caller keys states by order id).
    /// Statuses take the further of the two; content comes from the event that occurred
    /// later (on a tie, what is there stays). Repeats change nothing.
    pub fn merge(self, newer: Order, occurred_at: DateTime<Utc>) -> Self {
        debug_assert_eq!(self.order.id, newer.id, "merging events of different orders");
        let payment_status = self.order.payment_status.max(newer.payment_status);
        let delivery_status = self.order.delivery_status.max(newer.delivery_status);
        let cancelled = self.order.cancelled || newer.cancelled;
        let refunded_amount = self.order.refunded_amount.max(newer.refunded_amount);
        let (mut order, content_at) = if occurred_at > self.content_at { (newer, occurred_at) } else { (self.order, self.content_at) };
        order.payment_status = payment_status;
        order.delivery_status = delivery_status;
        order.cancelled = cancelled;
        order.refunded_amount = refunded_amount.min(order.total);
        Self { order, content_at }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use proptest::prelude::*;

    use super::*;
    use crate::order::model::{DeliveryStatus, PaymentStatus};
    use crate::order::tests::{at, event, events_and_a_shuffle, fold, order_with, parse, valid};

    #[test]
    fn a_state_is_stored_and_read_back() {
        let state = OrderState::new(parse(valid()).unwrap(), at(0));
        let stored = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<OrderState>(&stored).unwrap(), state);
    }

    #[test]
    fn late_events_never_move_statuses_back() {
        let received = order_with(|v| {
            v["payment_status"] = "paid".into();
            v["delivery_status"] = "received".into();
        });
        let shipped = order_with(|v| {
            v["delivery_status"] = "shipped".into();
            v["total"] = 1.into();
        });
        // The older "shipped" arrives after "received": statuses stay, content stays.
        let s = OrderState::new(received.clone(), at(10)).merge(shipped.clone(), at(5));
        assert_eq!((s.order.payment_status, s.order.delivery_status, s.order.total), (PaymentStatus::Paid, DeliveryStatus::Received, 950));
        // A newer event with an older status: statuses stay, content moves.
        let s = OrderState::new(received, at(10)).merge(shipped, at(20));
        assert_eq!((s.order.payment_status, s.order.delivery_status, s.order.total, s.content_at), (PaymentStatus::Paid, DeliveryStatus::Received, 1, at(20)));
        // Ties keep what is there.
        let a = order_with(|v| v["total"] = 1.into());
        let b = order_with(|v| v["total"] = 2.into());
        assert_eq!(OrderState::new(a, at(0)).merge(b, at(0)).order.total, 1);
    }

    #[test]
    fn event_times_are_bounded_by_now_and_by_the_start_of_e_invoicing() {
        let wall = at(0);
        let refused = |t, wall, clock| check_occurred_at(t, wall, clock).map_err(|v| (v.code, v.field));
        // Exactly 300 s ahead is accepted, 301 s is not.
        assert_eq!(refused(wall + TimeDelta::seconds(300), wall, wall), Ok(()));
        assert_eq!(refused(wall + TimeDelta::seconds(301), wall, wall), Err(("invalid_occurred_at", Some("occurred_at".into()))));
        // Year 9999.
        let far = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").unwrap().to_utc();
        assert!(refused(far, wall, wall).is_err());
        // "Now" is the later of the wall clock and the handler's clock, whichever is ahead.
        let clock = wall + TimeDelta::days(400);
        assert_eq!(refused(clock + TimeDelta::seconds(300), wall, clock), Ok(()));
        assert!(refused(clock + TimeDelta::seconds(301), wall, clock).is_err());
        assert_eq!(refused(clock + TimeDelta::seconds(300), clock, wall), Ok(()));
        // The past is fine back to 2006-01-01 00:00 Asia/Taipei, not a second earlier.
        let floor = earliest_event_time();
        assert_eq!(floor, DateTime::parse_from_rfc3339("2005-12-31T16:00:00Z").unwrap().to_utc());
        assert_eq!(refused(floor, wall, wall), Ok(()));
        assert!(refused(floor - TimeDelta::seconds(1), wall, wall).is_err());
        assert!(refused(DateTime::UNIX_EPOCH, wall, wall).is_err());
    }

    #[test]
    fn cancelled_stays_cancelled() {
        let cancelled = order_with(|v| v["cancelled"] = true.into());
        let s = OrderState::new(cancelled, at(1)).merge(parse(valid()).unwrap(), at(2));
        assert!(s.order.cancelled);
    }

    proptest! {
        #[test]
        fn merge_is_order_independent_on_statuses((events, shuffled) in events_and_a_shuffle()) {
            let a = fold(&events).order;
            let b = fold(&shuffled).order;
            prop_assert_eq!((a.payment_status, a.delivery_status, a.cancelled), (b.payment_status, b.delivery_status, b.cancelled));
            prop_assert_eq!(a.payment_status, events.iter().map(|e| e.0).max().unwrap());
            prop_assert_eq!(a.delivery_status, events.iter().map(|e| e.1).max().unwrap());
            prop_assert_eq!(a.cancelled, events.iter().any(|e| e.2));
        }

        #[test]
        fn content_comes_from_the_latest_event(events in proptest::collection::vec(event(), 1..8).prop_shuffle()) {
            let latest = events.iter().map(|e| e.3).max().unwrap();
            let s = fold(&events);
            prop_assert_eq!(s.content_at, at(latest));
            // The first event (in arrival order) at the latest time wins ties.
            let winner = events.iter().find(|e| e.3 == latest).unwrap();
            prop_assert_eq!(s.order.total, winner.4);
        }
    }
}
