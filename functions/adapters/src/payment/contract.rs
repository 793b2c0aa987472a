//! The contract of the payment-gateway port (feature `testing`): what every [`PaymentGateway`]
//! must do, written once and run against each — the in-memory [`FakeGateway`] by the adapters'
//! unit tests, [`super::HttpPaymentGateway`] against the simulator by
//! `tests/tests/provider_contract.rs` — so the fake the functions' unit tests use cannot drift
//! from the simulator (docs/payment-gateway-protocol.md).
//!
//! Each check uses order ids, card tokens and idempotency keys of its own, so checks may share
//! one gateway; except [`faults_fail_before_or_after_the_charge`]: faults are armed for the
//! whole gateway, so it needs one to itself.

use std::future::Future;

use chrono::Utc;
use einvoice_domain::PaymentMethod;

use super::{ChargeRequest, ChargeResult, PaymentGateway, PaymentInstructions, PaymentRequest};
use crate::testing::{FakeGateway, Fault};
use crate::upstream::UpstreamError;

/// How a check sets up the gateway under test: the fake's own methods, the simulator's `/_sim`
/// endpoints.
pub trait GatewayControl: Send + Sync {
    /// The next `count` calls fail with `fault` (`0` disarms).
    fn fail_next(&self, fault: Fault, count: usize) -> impl Future<Output = ()> + Send;
    /// Charges of `card_token` answer `result` from now on.
    fn set_card(&self, card_token: &str, result: ChargeResult) -> impl Future<Output = ()> + Send;
}

impl GatewayControl for FakeGateway {
    async fn fail_next(&self, fault: Fault, count: usize) {
        FakeGateway::fail_next(self, fault, count);
    }

    async fn set_card(&self, card_token: &str, result: ChargeResult) {
        FakeGateway::set_card(self, card_token, result);
    }
}

/// A name no other check (or earlier run against the same gateway) uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

fn payment(order_id: &str, method: PaymentMethod) -> PaymentRequest {
    PaymentRequest {
        order_id: order_id.into(),
        merchant_id: "contract-shop".into(),
        amount: 6000,
        currency: "TWD".into(),
        method,
        description: "e-invoice plan, 12 months".into(),
    }
}

fn charge(card_token: &str, key: &str) -> ChargeRequest {
    ChargeRequest { card_token: card_token.into(), amount: 6000, currency: "TWD".into(), idempotency_key: key.into(), description: "auto-renew".into() }
}

/// A payment is opened once per order: a repeat answers the first instructions, of the
/// method asked for; an amount of 0 is refused.
pub async fn payments_are_opened_once_per_order(g: &(impl PaymentGateway + ?Sized), _: &impl GatewayControl) {
    let (atm, other_atm, card) = (unique("po"), unique("po"), unique("po"));
    let first = g.create_payment(&payment(&atm, PaymentMethod::Atm)).await.unwrap();
    let PaymentInstructions::Atm { bank_code, virtual_account, expires_at } = &first else { panic!("ATM instructions for an ATM payment: {first:?}") };
    assert!(!bank_code.is_empty() && !virtual_account.is_empty() && *expires_at > Utc::now(), "{first:?}");
    let other = g.create_payment(&payment(&other_atm, PaymentMethod::Atm)).await.unwrap();
    assert!(matches!(&other, PaymentInstructions::Atm { virtual_account: v, .. } if v != virtual_account), "one account per order: {other:?}");
    assert_eq!(g.create_payment(&payment(&atm, PaymentMethod::Atm)).await.unwrap(), first, "a repeat answers the first instructions");
    let changed = PaymentRequest { amount: 1, ..payment(&atm, PaymentMethod::Atm) };
    assert_eq!(g.create_payment(&changed).await.unwrap(), first, "the order id is the key");

    let card_page = g.create_payment(&payment(&card, PaymentMethod::Card)).await.unwrap();
    assert!(matches!(&card_page, PaymentInstructions::Card { payment_url } if !payment_url.is_empty()), "{card_page:?}");
    assert_eq!(g.create_payment(&payment(&card, PaymentMethod::Card)).await.unwrap(), card_page);
    // The stored answer is of the first method: the client does not take it for the other one.
    assert!(matches!(g.create_payment(&payment(&card, PaymentMethod::Atm)).await, Err(UpstreamError::Unavailable(_))));

    let free = PaymentRequest { amount: 0, ..payment(&unique("po"), PaymentMethod::Card) };
    match g.create_payment(&free).await {
        Err(UpstreamError::Rejected { status: 400, message }) if message.contains("amount") => {}
        other => panic!("expected 400 …amount…, got {other:?}"),
    }
}

/// A charge is made once per idempotency key: a repeat answers the first receipt.
pub async fn charges_are_idempotent_by_key(g: &(impl PaymentGateway + ?Sized), _: &impl GatewayControl) {
    let (card, key) = (unique("tok"), unique("renew"));
    let first = g.charge(&charge(&card, &key)).await.unwrap();
    assert_eq!(first.result, ChargeResult::Succeeded, "cards pass unless told otherwise");
    assert!(!first.charge_id.is_empty());
    assert_eq!(g.charge(&charge(&card, &key)).await.unwrap(), first, "same key, same charge");
    let second = g.charge(&charge(&card, &unique("renew"))).await.unwrap();
    assert_ne!(second.charge_id, first.charge_id, "another key, another charge");
}

/// A card declines softly or hard, or passes, as set; a repeat keeps its first answer.
pub async fn cards_decline_softly_or_hard(g: &(impl PaymentGateway + ?Sized), c: &impl GatewayControl) {
    let card = unique("tok");
    let keys = [unique("renew"), unique("renew"), unique("renew")];
    c.set_card(&card, ChargeResult::Declined).await;
    assert_eq!(g.charge(&charge(&card, &keys[0])).await.unwrap().result, ChargeResult::Declined);
    c.set_card(&card, ChargeResult::DeclinedHard).await;
    assert_eq!(g.charge(&charge(&card, &keys[1])).await.unwrap().result, ChargeResult::DeclinedHard);
    c.set_card(&card, ChargeResult::Succeeded).await;
    assert_eq!(g.charge(&charge(&card, &keys[2])).await.unwrap().result, ChargeResult::Succeeded);
    assert_eq!(g.charge(&charge(&card, &keys[0])).await.unwrap().result, ChargeResult::Declined, "the first answer, replayed");
    assert_eq!(g.charge(&charge(&unique("tok"), &unique("renew"))).await.unwrap().result, ChargeResult::Succeeded, "other cards pass");
}

/// An `Unavailable` fault fails a charge before it is made; an `AfterWork` fault makes it and
/// loses the answer, which a repeat with the same key brings back. Needs a gateway of its own.
pub async fn faults_fail_before_or_after_the_charge(g: &(impl PaymentGateway + ?Sized), c: &impl GatewayControl) {
    let card = unique("tok");
    let (before, after) = (unique("renew"), unique("renew"));
    c.fail_next(Fault::Unavailable, 1).await;
    assert!(matches!(g.charge(&charge(&card, &before)).await, Err(UpstreamError::Unavailable(_))));
    c.set_card(&card, ChargeResult::Declined).await;
    assert_eq!(g.charge(&charge(&card, &before)).await.unwrap().result, ChargeResult::Declined, "nothing was charged: the repeat is the first charge");

    c.fail_next(Fault::AfterWork, 1).await;
    assert!(matches!(g.charge(&charge(&card, &after)).await, Err(UpstreamError::Unavailable(_))));
    c.set_card(&card, ChargeResult::Succeeded).await;
    assert_eq!(g.charge(&charge(&card, &after)).await.unwrap().result, ChargeResult::Declined, "the lost answer, replayed");

    c.fail_next(Fault::Unavailable, 2).await;
    c.fail_next(Fault::Unavailable, 0).await;
    assert!(g.charge(&charge(&card, &unique("renew"))).await.is_ok(), "a count of 0 disarms");
}

/// One test per contract check, each against a gateway made by `let <pattern> = <make>;`,
/// passed as `<client>, <control>`: `gateway_contract_tests!(let g = FakeGateway::new(); &g, &g);`.
#[macro_export]
macro_rules! gateway_contract_tests {
    (let $pat:pat = $make:expr; $client:expr, $control:expr) => {
        $crate::provider_contract_tests!($crate::payment::contract; let $pat = $make; ($client, $control);
            payments_are_opened_once_per_order,
            charges_are_idempotent_by_key,
            cards_decline_softly_or_hard,
            faults_fail_before_or_after_the_charge,
        );
    };
}

#[cfg(test)]
mod fake {
    crate::gateway_contract_tests!(let g = crate::testing::FakeGateway::new(); &g, &g);
}
