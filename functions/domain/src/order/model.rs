//! The checked 訂單 and its value types: 訂單編號 ([`OrderId`]), 付款狀態 ([`PaymentStatus`]),
//! 配送狀態 ([`DeliveryStatus`]), 物流 ([`Logistics`]) and 商品 lines ([`OrderLine`]). Statuses
//! are in lifecycle order, so merging events keeps the further one ([`super::state`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::buyer::BuyerWire;
use crate::rule::RuleViolation;
use crate::tax::TaxKind;

/// The one currency an invoice is issued in.
pub const CURRENCY: &str = "TWD";

/// A wire enum: its values in lifecycle order and their wire names.
pub(super) trait WireEnum: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
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

/// A checked order, in TWD. Stored and sent back in its wire shape ([`super::wire`]).
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub(super) fn cancel_field(&self) -> Option<&'static str> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::tests::{order_with, parse, valid};

    #[test]
    fn cancelled_or_refunded_orders_are_returned() {
        assert!(!parse(valid()).unwrap().is_returned());
        assert!(order_with(|v| v["cancelled"] = true.into()).is_returned());
        assert!(order_with(|v| v["refunded_amount"] = 1.into()).is_returned());
    }

    #[test]
    fn only_custom_logistics_are_untracked() {
        for l in Logistics::ALL {
            assert_eq!(l.is_tracked(), *l != Logistics::Custom, "{l}");
        }
    }
}
