//! 開立決定: whether an order's one invoice is issued now and at which trigger (付款, 出貨,
//! 取貨), or why not (invoice status `waiting`, `disabled` or `not_issuable`).

use serde::{Deserialize, Serialize};

use super::model::{DeliveryStatus, Order, PaymentStatus};
use super::state::OrderState;
use crate::plan::PlanStatus;
use crate::settings::{IssueOn, IssueTrigger};
use crate::tax::TaxSettings;

/// `NotIssuable` reason: the order was cancelled, refunded or returned before any selected
/// trigger held (nothing is issued for a cancelled order that was never issued).
pub const ORDER_CANCELLED: &str = "order_cancelled";
/// `NotIssuable` reason: only pickup is selected and the order ships with custom logistics,
/// which never report 已收貨 (received).
pub const CUSTOM_LOGISTICS_NEVER_RECEIVED: &str = "custom_logistics_never_received";

/// The merchant's settings as far as issuing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSettings {
    /// 啟用電子發票.
    pub enabled: bool,
    /// The provider is Wixtar (美麗科技).
    pub provider_is_wixtar: bool,
    /// 結帳頁顯示發票: without it nothing is issued automatically.
    pub show_at_checkout: bool,
    pub issue_on: IssueOn,
    /// 課稅別 settings: which orders make one invoice.
    pub tax: TaxSettings,
}

/// Why no invoice is issued automatically (invoice status `disabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// `invoicing_disabled`: the merchant switched invoices off.
    InvoicingDisabled,
    /// `provider_not_wixtar`: another provider is selected.
    ProviderNotWixtar,
    /// `not_shown_at_checkout`: 結帳頁顯示發票 is off.
    NotShownAtCheckout,
    /// `plan_not_active`: no plan paid, or paid but credentials not saved yet (串接).
    PlanNotActive,
    /// `plan_expired`: today is after the plan's expires_on.
    PlanExpired,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvoicingDisabled => "invoicing_disabled",
            Self::ProviderNotWixtar => "provider_not_wixtar",
            Self::NotShownAtCheckout => "not_shown_at_checkout",
            Self::PlanNotActive => "plan_not_active",
            Self::PlanExpired => "plan_expired",
        }
    }
}

/// What to do with an order's invoice now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Issue now; `trigger` is the earliest selected trigger (payment < shipment < pickup) that holds.
    Issue { trigger: IssueTrigger },
    /// No selected trigger holds yet (status `waiting`).
    Waiting,
    /// Settings or plan prevent issuing (status `disabled`).
    Disabled { reason: DisabledReason },
    /// This order can never be (or, until its content changes, cannot be) invoiced (status
    /// `not_issuable`): [`ORDER_CANCELLED`], [`CUSTOM_LOGISTICS_NEVER_RECEIVED`], or the code of
    /// the content violation (`invalid_carrier`, `invalid_love_code`, `invalid_ubn`,
    /// `donation_with_ubn`, `carrier_with_ubn`, `missing_field`, `field_too_long`,
    /// `invalid_field`, `total_mismatch`, `zero_total`, `mixed_tax_b2b`, `mixed_tax_not_approved`,
    /// `zero_tax_details_missing`), with the field at fault.
    NotIssuable { reason: &'static str, field: Option<String> },
}

impl Decision {
    /// The `reason` the invoice view shows, if any.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Disabled { reason } => Some(reason.as_str()),
            Self::NotIssuable { reason, .. } => Some(reason),
            Self::Issue { .. } | Self::Waiting => None,
        }
    }
}

impl IssueSettings {
    fn disabled_reason(&self, plan: PlanStatus) -> Option<DisabledReason> {
        if !self.enabled {
            Some(DisabledReason::InvoicingDisabled)
        } else if !self.provider_is_wixtar {
            Some(DisabledReason::ProviderNotWixtar)
        } else if !self.show_at_checkout {
            Some(DisabledReason::NotShownAtCheckout)
        } else {
            match plan {
                PlanStatus::Active => None,
                PlanStatus::Expired => Some(DisabledReason::PlanExpired),
                PlanStatus::None | PlanStatus::AwaitingActivation => Some(DisabledReason::PlanNotActive),
            }
        }
    }
}

impl Order {
    /// Whether this issue trigger holds: payment → paid; shipment → shipped or received;
    /// pickup → received with tracked logistics. (A cancelled order is handled before this.)
    pub fn trigger_holds(&self, trigger: IssueTrigger) -> bool {
        match trigger {
            IssueTrigger::Payment => self.payment_status == PaymentStatus::Paid,
            IssueTrigger::Shipment => matches!(self.delivery_status, DeliveryStatus::Shipped | DeliveryStatus::Received),
            IssueTrigger::Pickup => self.delivery_status == DeliveryStatus::Received && self.logistics.is_tracked(),
        }
    }
}

/// Decides an order that has no invoice yet (once `Issue` has been acted on, the caller
/// records the invoice and never asks again: an order gets exactly one invoice).
///
/// In order: `Disabled` when settings are off, the provider is not Wixtar, 結帳頁顯示發票 is
/// off, or the plan is not active/expired; `NotIssuable(order_cancelled)` when the order is
/// cancelled, refunded or returned (it stays so: statuses only move forward); `Issue` at the
/// earliest selected trigger that holds, if the invoice content is valid
/// ([`Order::check_invoice_content`]; else `NotIssuable` with the violation's code and field); `NotIssuable(custom_logistics_never_received)` when
/// only pickup is selected and the logistics are custom; else `Waiting`. Depends only on the
/// merged state, so every arrival order of the same events gives the same decision.
pub fn decide(state: &OrderState, settings: &IssueSettings, plan: PlanStatus) -> Decision {
    if let Some(reason) = settings.disabled_reason(plan) {
        return Decision::Disabled { reason };
    }
    let order = &state.order;
    if let Some(field) = order.cancel_field() {
        return Decision::NotIssuable { reason: ORDER_CANCELLED, field: Some(field.to_owned()) };
    }
    let selected = settings.issue_on.triggers();
    let lifecycle = [IssueTrigger::Payment, IssueTrigger::Shipment, IssueTrigger::Pickup];
    if let Some(trigger) = lifecycle.into_iter().find(|&t| selected.contains(&t) && order.trigger_holds(t)) {
        return match order.check_invoice_content(&settings.tax) {
            Ok(()) => Decision::Issue { trigger },
            Err(v) => Decision::NotIssuable { reason: v.code, field: v.field },
        };
    }
    if selected == [IssueTrigger::Pickup] && !order.logistics.is_tracked() {
        return Decision::NotIssuable { reason: CUSTOM_LOGISTICS_NEVER_RECEIVED, field: Some("order.logistics".to_owned()) };
    }
    Decision::Waiting
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::order::tests::{at, events_and_a_shuffle, fold, order_with};

    fn settings(on: &[&str]) -> IssueSettings {
        let on: Vec<String> = on.iter().map(|s| s.to_string()).collect();
        IssueSettings {
            enabled: true,
            provider_is_wixtar: true,
            show_at_checkout: true,
            issue_on: IssueOn::parse(Some(&on)).unwrap(),
            tax: TaxSettings::default(),
        }
    }

    #[test]
    fn disabled_reasons_come_first_in_order() {
        let state = OrderState::new(order_with(|v| v["cancelled"] = true.into()), at(0));
        let base = settings(&["shipment"]);
        let cases: Vec<(IssueSettings, PlanStatus, DisabledReason)> = vec![
            (IssueSettings { enabled: false, provider_is_wixtar: false, ..base.clone() }, PlanStatus::Expired, DisabledReason::InvoicingDisabled),
            (IssueSettings { provider_is_wixtar: false, show_at_checkout: false, ..base.clone() }, PlanStatus::Active, DisabledReason::ProviderNotWixtar),
            (IssueSettings { show_at_checkout: false, ..base.clone() }, PlanStatus::None, DisabledReason::NotShownAtCheckout),
            (base.clone(), PlanStatus::None, DisabledReason::PlanNotActive),
            (base.clone(), PlanStatus::AwaitingActivation, DisabledReason::PlanNotActive),
            (base.clone(), PlanStatus::Expired, DisabledReason::PlanExpired),
        ];
        for (s, plan, reason) in cases {
            assert_eq!(decide(&state, &s, plan), Decision::Disabled { reason });
        }
        assert_eq!(DisabledReason::PlanExpired.as_str(), "plan_expired");
        assert_eq!(decide(&state, &base, PlanStatus::Expired).reason(), Some("plan_expired"));
    }

    #[test]
    fn invalid_content_is_not_issuable_naming_the_field() {
        let shipped = |edit: fn(&mut serde_json::Value)| {
            OrderState::new(
                order_with(|v| {
                    v["delivery_status"] = "shipped".into();
                    edit(v);
                }),
                at(0),
            )
        };
        type Edit = fn(&mut serde_json::Value);
        let cases: Vec<(Edit, &str, &str)> = vec![
            (|v| v["buyer"]["carrier"]["id"] = "/abc".into(), "invalid_carrier", "order.buyer.carrier.id"),
            (|v| v["buyer"]["love_code"] = "1".into(), "invalid_love_code", "order.buyer.love_code"),
            (|v| v["buyer"]["ubn"] = "12345678".into(), "invalid_ubn", "order.buyer.ubn"),
            (|v| v["buyer"]["ubn"] = "04595257".into(), "carrier_with_ubn", "order.buyer.carrier"),
            (|v| v["total"] = 949.into(), "total_mismatch", "order.total"),
        ];
        for (edit, code, field) in cases {
            let d = decide(&shipped(edit), &settings(&["shipment"]), PlanStatus::Active);
            assert_eq!(d, Decision::NotIssuable { reason: code, field: Some(field.into()) });
        }
        // Not checked while waiting: the content may still be fixed by a later event.
        let waiting = OrderState::new(order_with(|v| v["total"] = 1.into()), at(0));
        assert_eq!(decide(&waiting, &settings(&["shipment"]), PlanStatus::Active), Decision::Waiting);
    }

    #[test]
    fn cancellation_names_its_field() {
        for (pointer, value, field) in [
            ("/cancelled", serde_json::Value::from(true), "order.cancelled"),
            ("/payment_status", "refunded".into(), "order.payment_status"),
            ("/delivery_status", "returned".into(), "order.delivery_status"),
        ] {
            let o = order_with(|v| *v.pointer_mut(pointer).unwrap() = value);
            let d = decide(&OrderState::new(o, at(0)), &settings(&["payment"]), PlanStatus::Active);
            assert_eq!(d, Decision::NotIssuable { reason: "order_cancelled", field: Some(field.into()) });
        }
    }

    /// Every trigger set × payment × delivery × cancelled × logistics, against a plain oracle.
    #[test]
    fn every_combination_against_an_oracle() {
        let trigger_sets: Vec<Vec<&str>> = vec![
            vec!["payment"],
            vec!["shipment"],
            vec!["pickup"],
            vec!["payment", "shipment"],
            vec!["payment", "pickup"],
            vec!["shipment", "pickup"],
            vec!["payment", "shipment", "pickup"],
        ];
        let mut checked = 0;
        for on in &trigger_sets {
            for payment in ["unpaid", "paid", "refunded"] {
                for delivery in ["pending", "shipped", "received", "returned"] {
                    for cancelled in [false, true] {
                        for logistics in ["tcat", "ecan", "sf", "ecpay_cvs", "ezship", "custom"] {
                            let o = order_with(|v| {
                                v["payment_status"] = payment.into();
                                v["delivery_status"] = delivery.into();
                                v["cancelled"] = cancelled.into();
                                v["logistics"] = logistics.into();
                            });
                            let expected = oracle(on, payment, delivery, cancelled, logistics);
                            let got = decide(&OrderState::new(o, at(0)), &settings(on), PlanStatus::Active);
                            let got = match got {
                                Decision::Issue { trigger } => {
                                    format!("issue:{}", trigger.as_str())
                                }
                                Decision::Waiting => "waiting".to_owned(),
                                Decision::NotIssuable { reason, .. } => {
                                    format!("not_issuable:{reason}")
                                }
                                Decision::Disabled { reason } => {
                                    format!("disabled:{}", reason.as_str())
                                }
                            };
                            assert_eq!(got, expected, "{on:?} {payment} {delivery} cancelled={cancelled} {logistics}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 7 * 3 * 4 * 2 * 6);
    }

    fn oracle(on: &[&str], payment: &str, delivery: &str, cancelled: bool, logistics: &str) -> String {
        if cancelled || payment == "refunded" || delivery == "returned" {
            return "not_issuable:order_cancelled".to_owned();
        }
        if on.contains(&"payment") && payment == "paid" {
            return "issue:payment".to_owned();
        }
        if on.contains(&"shipment") && (delivery == "shipped" || delivery == "received") {
            return "issue:shipment".to_owned();
        }
        if on.contains(&"pickup") && delivery == "received" && logistics != "custom" {
            return "issue:pickup".to_owned();
        }
        if on == ["pickup"] && logistics == "custom" {
            return "not_issuable:custom_logistics_never_received".to_owned();
        }
        "waiting".to_owned()
    }

    proptest! {
        /// [`decide`] depends only on the merged state: any arrival order of the same events
        /// decides alike.
        #[test]
        fn decisions_do_not_depend_on_arrival_order((events, shuffled) in events_and_a_shuffle()) {
            let s = settings(&["payment", "pickup"]);
            // Content may differ on timestamp ties; with the same content the decision is the same.
            let (mut a, mut b) = (fold(&events), fold(&shuffled));
            (a.order.total, b.order.total) = (950, 950);
            prop_assert_eq!(decide(&a, &s, PlanStatus::Active), decide(&b, &s, PlanStatus::Active));
        }
    }
}
