//! 訂單: the platform's order as its webhooks describe it, merged monotonically however the
//! webhooks arrive, and the decision whether (and at which trigger) to issue its one invoice.
//!
//! Statuses only move forward (payment unpaid < paid < refunded; delivery pending < shipped <
//! received < returned; once cancelled, always cancelled), so merging events is commutative
//! and idempotent on them. Content (lines, amounts, buyer, logistics) comes from the event
//! that occurred last.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::buyer::BuyerWire;
use crate::plan::PlanStatus;
use crate::rule::RuleViolation;
use crate::settings::{IssueOn, IssueTrigger};
use crate::tax::{TaxKind, TaxSettings};

/// The one currency an invoice is issued in.
pub const CURRENCY: &str = "TWD";

/// `NotIssuable` reason: the order was cancelled, refunded or returned before any selected
/// trigger held (nothing is issued for a cancelled order that was never issued).
pub const ORDER_CANCELLED: &str = "order_cancelled";
/// `NotIssuable` reason: only pickup is selected and the order ships with custom logistics,
/// which never report 已收貨 (received).
pub const CUSTOM_LOGISTICS_NEVER_RECEIVED: &str = "custom_logistics_never_received";

/// A wire enum: its values in lifecycle order and their wire names.
trait WireEnum: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

fn parse_enum<T: WireEnum>(value: Option<&str>, field: &str) -> Result<T, RuleViolation> {
    let Some(value) = value else {
        return Err(RuleViolation::on_field("missing_field", field, format!("{field} is required")));
    };
    T::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| {
        let allowed: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
        RuleViolation::on_field("invalid_order", field, format!("{field} must be one of {} (got {value:?})", allowed.join(", ")))
    })
}

/// 付款狀態, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// 未付款.
    Unpaid,
    /// 已收到款項.
    Paid,
    /// 已退款.
    Refunded,
}

impl WireEnum for PaymentStatus {
    const ALL: &'static [Self] = &[Self::Unpaid, Self::Paid, Self::Refunded];
    fn as_str(self) -> &'static str {
        match self {
            Self::Unpaid => "unpaid",
            Self::Paid => "paid",
            Self::Refunded => "refunded",
        }
    }
}

/// 配送狀態, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// 備貨中.
    Pending,
    /// 已出貨.
    Shipped,
    /// 已收貨 (取貨).
    Received,
    /// 已退貨.
    Returned,
}

impl WireEnum for DeliveryStatus {
    const ALL: &'static [Self] = &[Self::Pending, Self::Shipped, Self::Received, Self::Returned];
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Shipped => "shipped",
            Self::Received => "received",
            Self::Returned => "returned",
        }
    }
}

/// 物流: how the order ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Logistics {
    /// 黑貓宅急便 (T-cat).
    Tcat,
    /// 宅配通.
    Ecan,
    /// 順豐.
    Sf,
    /// 綠界超商取貨.
    EcpayCvs,
    /// 便利帶 (EZShip) 超商取貨.
    Ezship,
    /// 自訂物流: the platform never learns of delivery, so never past shipped.
    Custom,
}

impl WireEnum for Logistics {
    const ALL: &'static [Self] = &[Self::Tcat, Self::Ecan, Self::Sf, Self::EcpayCvs, Self::Ezship, Self::Custom];
    fn as_str(self) -> &'static str {
        match self {
            Self::Tcat => "tcat",
            Self::Ecan => "ecan",
            Self::Sf => "sf",
            Self::EcpayCvs => "ecpay_cvs",
            Self::Ezship => "ezship",
            Self::Custom => "custom",
        }
    }
}

macro_rules! wire_names {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(self) -> &'static str {
                <Self as WireEnum>::as_str(self)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
wire_names!(PaymentStatus, DeliveryStatus, Logistics);

impl Logistics {
    /// Whether the platform tracks delivery to 已收貨 (received): every carrier but custom.
    pub fn is_tracked(self) -> bool {
        self != Self::Custom
    }
}

/// The platform's order number: 1–64 of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

impl OrderId {
    pub fn parse(s: &str) -> Result<Self, RuleViolation> {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(RuleViolation::on_field("invalid_order", "order.id", "order.id must be 1 to 64 of A-Z a-z 0-9 _ -"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for OrderId {
    type Error = RuleViolation;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<OrderId> for String {
    fn from(id: OrderId) -> Self {
        id.0
    }
}

/// One 商品 line of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: Option<String>,
    /// 品名: trimmed, non-empty.
    pub name: String,
    /// ≥ 1.
    pub quantity: u32,
    /// 單價, whole TWD.
    pub unit_price: u32,
    /// 課稅別 marked by the platform; `None`: the merchant's `default_tax_type`.
    pub tax_type: Option<TaxKind>,
}

/// A checked order, in TWD. Serialises back to its wire shape (so it can be stored as sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OrderWire", into = "OrderWire")]
pub struct Order {
    pub id: OrderId,
    pub payment_status: PaymentStatus,
    pub delivery_status: DeliveryStatus,
    pub cancelled: bool,
    pub logistics: Logistics,
    /// Never empty.
    pub lines: Vec<OrderLine>,
    pub shipping_fee: u32,
    pub discount: u32,
    pub total: u32,
    /// Refunded so far (0 ≤ refunded_amount ≤ total); a partial refund of an invoiced order is
    /// an allowance (折讓). Absent on the wire means 0.
    pub refunded_amount: u32,
    /// The buyer as sent, checked only when an invoice is about to be issued
    /// ([`BuyerWire::parse`]): a bad carrier makes the order `not_issuable`, not the webhook a 422.
    pub buyer: BuyerWire,
}

/// The order as it arrives: everything optional, so that a missing field is a 422 naming it,
/// while a wrong JSON type is a 400 from the decoder.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistics: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<OrderLineWire>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_fee: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// 已退款金額: how much of the total was refunded so far (partial refunds), whole TWD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<BuyerWire>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderLineWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<i64>,
    /// `taxable`, `zero_rated` or `tax_free`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_type: Option<String>,
}

/// A whole-TWD amount: 0 ≤ value ≤ 4,294,967,295 (what the invoice QR code's 8 hex digits hold).
/// `default` is used when the field is absent; `None` makes it required.
fn amount(value: Option<i64>, field: &str, default: Option<u32>) -> Result<u32, RuleViolation> {
    match value {
        None => default.ok_or_else(|| RuleViolation::on_field("missing_field", field, format!("{field} is required"))),
        Some(v) => u32::try_from(v)
            .map_err(|_| RuleViolation::on_field("invalid_amount", field, format!("{field} must be a whole TWD amount from 0 to {} (got {v})", u32::MAX))),
    }
}

impl OrderLineWire {
    fn parse(self, at: usize) -> Result<OrderLine, RuleViolation> {
        let f = |name: &str| format!("order.lines.{at}.{name}");
        let name = match self.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => {
                return Err(RuleViolation::on_field("missing_field", f("name"), format!("{} is required", f("name"))));
            }
        };
        // Control characters are mapped where the name is written (proof codes); noncharacters
        // have no meaning anywhere and are refused.
        crate::text::refuse_noncharacters(&name, &f("name"))?;
        let quantity = match self.quantity {
            None => {
                return Err(RuleViolation::on_field("missing_field", f("quantity"), format!("{} is required", f("quantity"))));
            }
            Some(q) => u32::try_from(q).ok().filter(|&q| q >= 1).ok_or_else(|| {
                RuleViolation::on_field("invalid_order", f("quantity"), format!("{} must be a whole number from 1 to {} (got {q})", f("quantity"), u32::MAX))
            })?,
        };
        let unit_price = amount(self.unit_price, &f("unit_price"), None)?;
        let tax_type = self.tax_type.as_deref().map(|t| TaxKind::parse(t, &f("tax_type"))).transpose()?;
        Ok(OrderLine { sku: self.sku, name, quantity, unit_price, tax_type })
    }
}

impl OrderWire {
    /// Checks the order, field by field in wire order; the first broken rule is reported.
    /// `cancelled` defaults to false, `shipping_fee` and `discount` to 0. The buyer must be
    /// present but is not checked here (see [`Order::buyer`]).
    pub fn parse(self) -> Result<Order, RuleViolation> {
        let id = match self.id.as_deref() {
            Some(id) => OrderId::parse(id)?,
            None => {
                return Err(RuleViolation::on_field("missing_field", "order.id", "order.id is required"));
            }
        };
        match self.currency.as_deref() {
            Some(CURRENCY) => {}
            None => {
                return Err(RuleViolation::on_field("missing_field", "order.currency", "order.currency is required"));
            }
            Some(other) => {
                return Err(RuleViolation::on_field(
                    "unsupported_currency",
                    "order.currency",
                    format!("order.currency must be TWD: invoices are issued in New Taiwan dollars (got {other:?})"),
                ));
            }
        }
        let payment_status = parse_enum(self.payment_status.as_deref(), "order.payment_status")?;
        let delivery_status = parse_enum(self.delivery_status.as_deref(), "order.delivery_status")?;
        let cancelled = self.cancelled.unwrap_or(false);
        let logistics = parse_enum(self.logistics.as_deref(), "order.logistics")?;
        let lines = self.lines.ok_or_else(|| RuleViolation::on_field("missing_field", "order.lines", "order.lines is required"))?;
        if lines.is_empty() {
            return Err(RuleViolation::on_field("invalid_order", "order.lines", "order.lines must have at least one line"));
        }
        let lines = lines.into_iter().enumerate().map(|(i, l)| l.parse(i)).collect::<Result<Vec<_>, _>>()?;
        let shipping_fee = amount(self.shipping_fee, "order.shipping_fee", Some(0))?;
        let discount = amount(self.discount, "order.discount", Some(0))?;
        let total = amount(self.total, "order.total", None)?;
        let refunded_amount = amount(self.refunded_amount, "order.refunded_amount", Some(0))?;
        if refunded_amount > total {
            return Err(RuleViolation::on_field("invalid_amount", "order.refunded_amount", "order.refunded_amount cannot exceed order.total"));
        }
        let buyer = self.buyer.ok_or_else(|| RuleViolation::on_field("missing_field", "order.buyer", "order.buyer is required"))?;
        Ok(Order { id, payment_status, delivery_status, cancelled, logistics, lines, shipping_fee, discount, total, refunded_amount, buyer })
    }
}

impl TryFrom<OrderWire> for Order {
    type Error = RuleViolation;
    fn try_from(w: OrderWire) -> Result<Self, Self::Error> {
        w.parse()
    }
}

impl From<Order> for OrderWire {
    fn from(o: Order) -> Self {
        Self {
            id: Some(o.id.into()),
            currency: Some(CURRENCY.to_owned()),
            payment_status: Some(o.payment_status.as_str().to_owned()),
            delivery_status: Some(o.delivery_status.as_str().to_owned()),
            cancelled: Some(o.cancelled),
            logistics: Some(o.logistics.as_str().to_owned()),
            lines: Some(
                o.lines
                    .into_iter()
                    .map(|l| OrderLineWire {
                        sku: l.sku,
                        name: Some(l.name),
                        quantity: Some(i64::from(l.quantity)),
                        unit_price: Some(i64::from(l.unit_price)),
                        tax_type: l.tax_type.map(|t| t.as_str().to_owned()),
                    })
                    .collect(),
            ),
            shipping_fee: Some(i64::from(o.shipping_fee)),
            discount: Some(i64::from(o.discount)),
            total: Some(i64::from(o.total)),
            refunded_amount: (o.refunded_amount > 0).then_some(i64::from(o.refunded_amount)),
            buyer: Some(o.buyer),
        }
    }
}

impl Order {
    /// Cancelled, refunded or returned: the sale did not happen.
    pub fn is_cancelled(&self) -> bool {
        self.cancel_field().is_some()
    }

    /// Cancelled or (partly) refunded: an invoice already issued for it needs a void or an
    /// allowance (作廢 / 折讓).
    pub fn is_returned(&self) -> bool {
        self.is_cancelled() || self.refunded_amount > 0
    }

    /// The field that says the sale did not happen, if any.
    fn cancel_field(&self) -> Option<&'static str> {
        if self.cancelled {
            Some("order.cancelled")
        } else if self.payment_status == PaymentStatus::Refunded {
            Some("order.payment_status")
        } else if self.delivery_status == DeliveryStatus::Returned {
            Some("order.delivery_status")
        } else {
            None
        }
    }

    /// Whether this issue trigger holds: payment → paid; shipment → shipped or received;
    /// pickup → received with tracked logistics. (A cancelled order is handled before this.)
    pub fn trigger_holds(&self, trigger: IssueTrigger) -> bool {
        match trigger {
            IssueTrigger::Payment => self.payment_status == PaymentStatus::Paid,
            IssueTrigger::Shipment => matches!(self.delivery_status, DeliveryStatus::Shipped | DeliveryStatus::Received),
            IssueTrigger::Pickup => self.delivery_status == DeliveryStatus::Received && self.logistics.is_tracked(),
        }
    }

    /// Whether an invoice could be built from this content: a valid buyer (carrier, love code,
    /// UBN, company name), lines that add up to a non-zero total, and tax types that make one
    /// invoice ([`crate::tax::tax_plan`]). Allocates nothing when valid.
    pub fn check_invoice_content(&self, tax: &TaxSettings) -> Result<(), RuleViolation> {
        let b2b = self.buyer.check_is_b2b()?;
        crate::sale::invoice_total(self)?;
        crate::tax::tax_plan(self, tax, b2b)?;
        Ok(())
    }
}

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

/// Decides an order that has no invoice yet (once `Issue` has been acted on, the caller
/// records the invoice and never asks again: an order gets exactly one invoice).
///
/// In order: `Disabled` when settings are off, the provider is not Wixtar, 結帳頁顯示發票 is
/// off, or the plan is not active/expired; `NotIssuable(order_cancelled)` when the order is
/// cancelled, refunded or returned (it stays so: statuses only move forward); `Issue` at the
/// earliest selected trigger that holds, if the invoice content is valid (else `NotIssuable`
/// with the violation's code and field); `NotIssuable(custom_logistics_never_received)` when
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
    use super::*;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "id": "SO-2026_0001", "currency": "TWD", "payment_status": "unpaid", "delivery_status": "pending",
            "cancelled": false, "logistics": "tcat",
            "lines": [{"sku": "TEA-1", "name": "阿里山烏龍茶", "quantity": 2, "unit_price": 450}],
            "shipping_fee": 100, "discount": 50, "total": 950,
            "buyer": {"name": "王小明", "email": "ming@example.com", "carrier": {"type": "mobile", "id": "/ABC1234"}}
        })
    }

    fn parse(v: serde_json::Value) -> Result<Order, RuleViolation> {
        serde_json::from_value::<OrderWire>(v).unwrap().parse()
    }

    fn order_with(edit: impl FnOnce(&mut serde_json::Value)) -> Order {
        let mut v = valid();
        edit(&mut v);
        parse(v).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

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
    fn parses_the_wire_order_and_round_trips() {
        let o = parse(valid()).unwrap();
        assert_eq!(o.id.as_str(), "SO-2026_0001");
        assert_eq!((o.payment_status, o.delivery_status, o.logistics, o.cancelled), (PaymentStatus::Unpaid, DeliveryStatus::Pending, Logistics::Tcat, false));
        assert_eq!((o.lines[0].quantity, o.lines[0].unit_price, o.shipping_fee, o.discount, o.total), (2, 450, 100, 50, 950));
        assert_eq!(serde_json::to_value(&o).unwrap(), valid());
        assert_eq!(serde_json::from_value::<Order>(valid()).unwrap(), o);
        let state = OrderState::new(o, at(0));
        let stored = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<OrderState>(&stored).unwrap(), state);
    }

    #[test]
    fn absent_optional_fields_default() {
        let o = order_with(|v| {
            let m = v.as_object_mut().unwrap();
            m.remove("cancelled");
            m.remove("shipping_fee");
            m.remove("discount");
        });
        assert_eq!((o.cancelled, o.shipping_fee, o.discount), (false, 0, 0));
    }

    #[test]
    fn each_rule_has_its_code_and_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("/id", "".into(), "invalid_order"),
            ("/id", "SO 1".into(), "invalid_order"),
            ("/id", "x".repeat(65).into(), "invalid_order"),
            ("/currency", "USD".into(), "unsupported_currency"),
            ("/payment_status", "pending".into(), "invalid_order"),
            ("/delivery_status", "delivered".into(), "invalid_order"),
            ("/logistics", "post".into(), "invalid_order"),
            ("/lines", serde_json::json!([]), "invalid_order"),
            ("/lines/0/quantity", 0.into(), "invalid_order"),
            ("/lines/0/quantity", (-1).into(), "invalid_order"),
            ("/lines/0/name", " ".into(), "missing_field"),
            ("/lines/0/unit_price", (-5).into(), "invalid_amount"),
            ("/shipping_fee", (-1).into(), "invalid_amount"),
            ("/discount", 5_000_000_000i64.into(), "invalid_amount"),
            ("/total", (-950).into(), "invalid_amount"),
        ];
        for (pointer, value, code) in cases {
            let mut v = valid();
            *v.pointer_mut(pointer).unwrap() = value;
            let e = parse(v).unwrap_err();
            assert_eq!(e.code, code, "{pointer}");
            assert_eq!(e.field.unwrap(), format!("order{}", pointer.replace('/', ".")), "{pointer}");
        }
    }

    #[test]
    fn missing_fields_are_named() {
        for field in ["id", "currency", "payment_status", "delivery_status", "logistics", "lines", "total", "buyer"] {
            let mut v = valid();
            v.as_object_mut().unwrap().remove(field);
            let e = parse(v).unwrap_err();
            assert_eq!((e.code, e.field), ("missing_field", Some(format!("order.{field}"))));
        }
        for field in ["name", "quantity", "unit_price"] {
            let mut v = valid();
            v["lines"][0].as_object_mut().unwrap().remove(field);
            assert_eq!(parse(v).unwrap_err().field, Some(format!("order.lines.0.{field}")));
        }
    }

    #[test]
    fn a_bad_carrier_does_not_make_the_order_invalid() {
        let o = order_with(|v| v["buyer"]["carrier"]["id"] = "nope".into());
        assert_eq!(o.buyer.parse().unwrap_err().code, "invalid_carrier");
    }

    #[test]
    fn only_custom_logistics_are_untracked() {
        for l in Logistics::ALL {
            assert_eq!(l.is_tracked(), *l != Logistics::Custom, "{l}");
        }
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
    fn cancelled_or_refunded_orders_are_returned() {
        assert!(!parse(valid()).unwrap().is_returned());
        assert!(order_with(|v| v["cancelled"] = true.into()).is_returned());
        assert!(order_with(|v| v["refunded_amount"] = 1.into()).is_returned());
    }

    #[test]
    fn cancelled_stays_cancelled() {
        let cancelled = order_with(|v| v["cancelled"] = true.into());
        let s = OrderState::new(cancelled, at(1)).merge(parse(valid()).unwrap(), at(2));
        assert!(s.order.cancelled);
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

    type Event = (PaymentStatus, DeliveryStatus, bool, i64, u32);

    fn event() -> impl Strategy<Value = Event> {
        (proptest::sample::select(PaymentStatus::ALL), proptest::sample::select(DeliveryStatus::ALL), any::<bool>(), 0i64..20, 1u32..1000)
    }

    fn fold(events: &[Event]) -> OrderState {
        let order = |&(p, d, c, _, total): &Event| {
            let mut o = parse(valid()).unwrap();
            (o.payment_status, o.delivery_status, o.cancelled, o.total) = (p, d, c, total);
            o
        };
        let (first, rest) = events.split_first().unwrap();
        rest.iter().fold(OrderState::new(order(first), at(first.3)), |s, e| s.merge(order(e), at(e.3)))
    }

    proptest! {
        #[test]
        fn merge_is_order_independent_on_statuses(
            (events, shuffled) in proptest::collection::vec(event(), 1..8)
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
        ) {
            let a = fold(&events).order;
            let b = fold(&shuffled).order;
            prop_assert_eq!((a.payment_status, a.delivery_status, a.cancelled), (b.payment_status, b.delivery_status, b.cancelled));
            prop_assert_eq!(a.payment_status, events.iter().map(|e| e.0).max().unwrap());
            prop_assert_eq!(a.delivery_status, events.iter().map(|e| e.1).max().unwrap());
            prop_assert_eq!(a.cancelled, events.iter().any(|e| e.2));
            let s = settings(&["payment", "pickup"]);
            // Content may differ on timestamp ties; with the same content the decision is the same.
            let (mut a, mut b) = (fold(&events), fold(&shuffled));
            (a.order.total, b.order.total) = (950, 950);
            prop_assert_eq!(decide(&a, &s, PlanStatus::Active), decide(&b, &s, PlanStatus::Active));
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
