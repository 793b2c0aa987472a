//! Fixtures shared by the order rooms' tests.

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::model::{DeliveryStatus, Order, PaymentStatus, WireEnum};
use super::state::OrderState;
use super::wire::OrderWire;
use crate::rule::RuleViolation;

/// A valid order as the platform sends it.
pub(super) fn valid() -> serde_json::Value {
    serde_json::json!({
        "id": "SO-2026_0001", "currency": "TWD", "payment_status": "unpaid", "delivery_status": "pending",
        "cancelled": false, "logistics": "tcat",
        "lines": [{"sku": "TEA-1", "name": "阿里山烏龍茶", "quantity": 2, "unit_price": 450}],
        "shipping_fee": 100, "discount": 50, "total": 950,
        "buyer": {"name": "王小明", "email": "ming@example.com", "carrier": {"type": "mobile", "id": "/ABC1234"}}
    })
}

pub(super) fn parse(v: serde_json::Value) -> Result<Order, RuleViolation> {
    serde_json::from_value::<OrderWire>(v).unwrap().parse()
}

/// [`valid`] after `edit`.
pub(super) fn order_with(edit: impl FnOnce(&mut serde_json::Value)) -> Order {
    let mut v = valid();
    edit(&mut v);
    parse(v).unwrap()
}

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
}

/// One event of an order: payment, delivery, cancelled, `occurred_at` (seconds after [`at`]), total.
pub(super) type Event = (PaymentStatus, DeliveryStatus, bool, i64, u32);

pub(super) fn event() -> impl Strategy<Value = Event> {
    (proptest::sample::select(PaymentStatus::ALL), proptest::sample::select(DeliveryStatus::ALL), any::<bool>(), 0i64..20, 1u32..1000)
}

/// The state after these events, in this arrival order.
pub(super) fn fold(events: &[Event]) -> OrderState {
    let order = |&(p, d, c, _, total): &Event| {
        let mut o = parse(valid()).unwrap();
        (o.payment_status, o.delivery_status, o.cancelled, o.total) = (p, d, c, total);
        o
    };
    let (first, rest) = events.split_first().unwrap();
    rest.iter().fold(OrderState::new(order(first), at(first.3)), |s, e| s.merge(order(e), at(e.3)))
}

/// Events with some repeated, and the same events in another arrival order.
pub(super) fn events_and_a_shuffle() -> impl Strategy<Value = (Vec<Event>, Vec<Event>)> {
    proptest::collection::vec(event(), 1..8)
        .prop_flat_map(|base| {
            // Repeat some events, then shuffle.
            let n = base.len();
            (Just(base), proptest::collection::vec(0..n, 0..4))
        })
        .prop_flat_map(|(base, repeats)| {
            let mut all = base.clone();
            all.extend(repeats.iter().map(|&i| base[i]));
            (Just(all.clone()), Just(all).prop_shuffle())
        })
}
