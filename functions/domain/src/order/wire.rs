//! The 訂單 as the platform sends it (`order` in `POST /v1/webhooks/orders`): [`OrderWire`],
//! checked field by field into an [`Order`], which is stored and sent back in the same shape.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::{CURRENCY, Order, OrderId, OrderLine, WireEnum};
use crate::buyer::BuyerWire;
use crate::rule::RuleViolation;
use crate::tax::TaxKind;

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

/// A required wire enum: `missing_field` when absent, `invalid_order` naming the values allowed.
fn parse_enum<T: WireEnum>(value: Option<&str>, field: &str) -> Result<T, RuleViolation> {
    let Some(value) = value else {
        return Err(RuleViolation::on_field("missing_field", field, format!("{field} is required")));
    };
    T::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| {
        let allowed: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
        RuleViolation::on_field("invalid_order", field, format!("{field} must be one of {} (got {value:?})", allowed.join(", ")))
    })
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

/// An order serialises as its wire shape (so it can be stored as sent) and deserialises through
/// [`OrderWire::parse`].
impl Serialize for Order {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        OrderWire::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Order {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        OrderWire::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::model::{DeliveryStatus, Logistics, PaymentStatus};
    use crate::order::tests::{order_with, parse, valid};

    #[test]
    fn parses_the_wire_order_and_round_trips() {
        let o = parse(valid()).unwrap();
        assert_eq!(o.id.as_str(), "SO-2026_0001");
        assert_eq!((o.payment_status, o.delivery_status, o.logistics, o.cancelled), (PaymentStatus::Unpaid, DeliveryStatus::Pending, Logistics::Tcat, false));
        assert_eq!((o.lines[0].quantity, o.lines[0].unit_price, o.shipping_fee, o.discount, o.total), (2, 450, 100, 50, 950));
        assert_eq!(serde_json::to_value(&o).unwrap(), valid());
        assert_eq!(serde_json::from_value::<Order>(valid()).unwrap(), o);
        let mut missing = valid();
        missing.as_object_mut().unwrap().remove("total");
        assert_eq!(serde_json::from_value::<Order>(missing).unwrap_err().to_string(), "missing_field: order.total is required");
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
}
