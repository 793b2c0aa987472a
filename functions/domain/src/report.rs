//! 期別報表: a merchant's invoices of one bimonthly period (期別) as rows, one per invoice
//! (發票, void ones included and marked 作廢) and one per allowance (折讓), and the figures
//! of the VAT return (營業人銷售額與稅額申報書, 401 / 403) added up from those rows
//! (docs/period-report.md maps each figure to its box).
//!
//! Which rows count: every invoice that is not void (issued, whether or not Wixtar has accepted
//! it yet), and every allowance Wixtar accepted (not pending, not voided). The totals are the
//! sums of the counted rows, nothing else: [`PeriodTotals::add`] is the only way in.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::buyer::B2C_BUYER_IDENTIFIER;

/// A row's amounts, as the invoice view shows them (MIG 4.0 `Amount`): 應稅銷售額 (B2C
/// tax-inclusive with 稅額 0; B2B untaxed, the 5% tax apart), 稅額, 零稅率銷售額, 免稅銷售額 and
/// 總計 (the four added). Sums of many rows, hence `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Figures {
    pub sales_amount: u64,
    pub tax_amount: u64,
    pub zero_tax_sales_amount: u64,
    pub free_tax_sales_amount: u64,
    pub total: u64,
}

impl Figures {
    fn add(&mut self, other: &Self) {
        self.sales_amount += other.sales_amount;
        self.tax_amount += other.tax_amount;
        self.zero_tax_sales_amount += other.zero_tax_sales_amount;
        self.free_tax_sales_amount += other.free_tax_sales_amount;
        self.total += other.total;
    }
}

/// 買受人: a consumer (B2C, buyer identifier `0000000000`) or a business with a UBN (B2B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyerKind {
    B2b,
    B2c,
}

impl BuyerKind {
    /// From the invoice's buyer identifier (`0000000000`: a consumer).
    pub fn of(buyer_identifier: &str) -> Self {
        if buyer_identifier == B2C_BUYER_IDENTIFIER { Self::B2c } else { Self::B2b }
    }
}

/// 發票 or 折讓.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    Invoice,
    Allowance,
}

impl RowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Allowance => "allowance",
        }
    }
}

/// Where a row stands at Wixtar: `pending` (recorded, not yet accepted: an invoice counts
/// already, an allowance not yet), `uploaded` (accepted), `void` (作廢; never counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Pending,
    Uploaded,
    Void,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Uploaded => "uploaded",
            Self::Void => "void",
        }
    }
}

/// One line of the report: an invoice or an allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: RowKind,
    /// The invoice number, or the allowance's (`{invoice number}-{n}`).
    pub number: String,
    /// The invoice the row is (or is against).
    pub invoice_number: String,
    pub issued_at: DateTime<Utc>,
    pub order_id: String,
    pub buyer_identifier: String,
    /// MIG `TaxType` of the invoice (1, 2, 3, 9).
    pub tax_type: u8,
    pub figures: Figures,
    pub status: RowStatus,
    /// The invoice's item names (商品名稱), as free text.
    pub items: String,
}

impl Row {
    pub fn buyer_kind(&self) -> BuyerKind {
        BuyerKind::of(&self.buyer_identifier)
    }

    /// Whether the row's amounts are in the totals: a live invoice, an accepted allowance.
    pub fn counts(&self) -> bool {
        match self.kind {
            RowKind::Invoice => self.status != RowStatus::Void,
            RowKind::Allowance => self.status == RowStatus::Uploaded,
        }
    }
}

/// How many invoices and allowances the period has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Invoices issued (開立), void ones included.
    pub issued: u64,
    /// Invoices voided (作廢).
    pub void: u64,
    /// Allowances accepted (折讓), voided ones and those not yet accepted left out.
    pub allowances: u64,
}

/// The period's figures, added up row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodTotals {
    pub counts: Counts,
    /// Live invoices.
    pub totals: Figures,
    pub b2b: Figures,
    pub b2c: Figures,
    /// Accepted allowances (銷貨退回及折讓).
    pub allowances: Figures,
}

impl PeriodTotals {
    /// Adds one row.
    pub fn add(&mut self, row: &Row) {
        match row.kind {
            RowKind::Invoice => {
                self.counts.issued += 1;
                if !row.counts() {
                    self.counts.void += 1;
                    return;
                }
                self.totals.add(&row.figures);
                match row.buyer_kind() {
                    BuyerKind::B2b => self.b2b.add(&row.figures),
                    BuyerKind::B2c => self.b2c.add(&row.figures),
                }
            }
            RowKind::Allowance if row.counts() => {
                self.counts.allowances += 1;
                self.allowances.add(&row.figures);
            }
            RowKind::Allowance => {}
        }
    }

    /// The totals of `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Self {
        let mut totals = Self::default();
        for row in rows {
            totals.add(row);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B2B_BUYER: &str = "04595257";

    fn figures(sales: u64, tax: u64, zero: u64, free: u64) -> Figures {
        Figures { sales_amount: sales, tax_amount: tax, zero_tax_sales_amount: zero, free_tax_sales_amount: free, total: sales + tax + zero + free }
    }

    fn row(kind: RowKind, buyer: &str, tax_type: u8, figures: Figures, status: RowStatus) -> Row {
        Row {
            kind,
            number: "UA00000001".into(),
            invoice_number: "UA00000001".into(),
            issued_at: DateTime::UNIX_EPOCH,
            order_id: "o-1".into(),
            buyer_identifier: buyer.into(),
            tax_type,
            figures,
            status,
            items: "凍頂烏龍茶".into(),
        }
    }

    #[test]
    fn totals_by_tax_type_and_buyer_kind() {
        let rows = [
            // B2C taxable 1,050: tax-inclusive, tax 0.
            row(RowKind::Invoice, B2C_BUYER_IDENTIFIER, 1, figures(1050, 0, 0, 0), RowStatus::Uploaded),
            // B2B taxable 1,050: 1,000 + 50.
            row(RowKind::Invoice, B2B_BUYER, 1, figures(1000, 50, 0, 0), RowStatus::Pending),
            // B2B zero-rated 300, B2C tax-free 200, B2C mixed (9) 105 taxable + 40 zero + 60 free.
            row(RowKind::Invoice, B2B_BUYER, 2, figures(0, 0, 300, 0), RowStatus::Uploaded),
            row(RowKind::Invoice, B2C_BUYER_IDENTIFIER, 3, figures(0, 0, 0, 200), RowStatus::Uploaded),
            row(RowKind::Invoice, B2C_BUYER_IDENTIFIER, 9, figures(105, 0, 40, 60), RowStatus::Uploaded),
            // A voided B2B invoice: counted as issued and void, in no amount.
            row(RowKind::Invoice, B2B_BUYER, 1, figures(2000, 100, 0, 0), RowStatus::Void),
            // Allowances: accepted (B2B 210 = 200 + 10), pending and voided (not counted).
            row(RowKind::Allowance, B2B_BUYER, 1, figures(200, 10, 0, 0), RowStatus::Uploaded),
            row(RowKind::Allowance, B2B_BUYER, 1, figures(100, 5, 0, 0), RowStatus::Pending),
            row(RowKind::Allowance, B2C_BUYER_IDENTIFIER, 1, figures(50, 0, 0, 0), RowStatus::Void),
        ];
        let t = PeriodTotals::of(&rows);
        assert_eq!(t.counts, Counts { issued: 6, void: 1, allowances: 1 });
        assert_eq!(t.b2c, figures(1155, 0, 40, 260));
        assert_eq!(t.b2b, figures(1000, 50, 300, 0));
        assert_eq!(t.totals, figures(2155, 50, 340, 260));
        assert_eq!(t.totals.total, 2805);
        assert_eq!(t.allowances, figures(200, 10, 0, 0));
    }

    #[test]
    fn nothing_in_the_period_is_all_zeros() {
        assert_eq!(PeriodTotals::of(&[]), PeriodTotals::default());
        assert_eq!(PeriodTotals::default().totals, figures(0, 0, 0, 0));
    }

    fn any_row() -> impl Strategy<Value = Row> {
        let kind = prop_oneof![Just(RowKind::Invoice), Just(RowKind::Allowance)];
        let status = prop_oneof![Just(RowStatus::Pending), Just(RowStatus::Uploaded), Just(RowStatus::Void)];
        let buyer = prop_oneof![Just(B2C_BUYER_IDENTIFIER), Just(B2B_BUYER)];
        let tax_type = prop_oneof![Just(1u8), Just(2), Just(3), Just(9)];
        let amounts = (0..=u64::from(u32::MAX), 0..=100_000u64, 0..=100_000u64, 0..=100_000u64);
        (kind, status, buyer, tax_type, amounts)
            .prop_map(|(kind, status, buyer, tax_type, (sales, tax, zero, free))| row(kind, buyer, tax_type, figures(sales, tax, zero, free), status))
    }

    fn sum<'a>(rows: impl Iterator<Item = &'a Row>) -> Figures {
        rows.fold(Figures::default(), |s, r| Figures {
            sales_amount: s.sales_amount + r.figures.sales_amount,
            tax_amount: s.tax_amount + r.figures.tax_amount,
            zero_tax_sales_amount: s.zero_tax_sales_amount + r.figures.zero_tax_sales_amount,
            free_tax_sales_amount: s.free_tax_sales_amount + r.figures.free_tax_sales_amount,
            total: s.total + r.figures.total,
        })
    }

    proptest! {
        /// For any invoices and allowances, the totals are the sums of the rows that count
        /// (invoices not void, allowances accepted), B2B and B2C add up to them, and the
        /// counts are the rows'.
        #[test]
        fn totals_are_the_sums_of_the_rows(rows in proptest::collection::vec(any_row(), 0..60)) {
            let t = PeriodTotals::of(&rows);
            let invoices = || rows.iter().filter(|r| r.kind == RowKind::Invoice);
            let live = || invoices().filter(|r| r.status != RowStatus::Void);
            let accepted = || rows.iter().filter(|r| r.kind == RowKind::Allowance && r.status == RowStatus::Uploaded);
            prop_assert_eq!(t.totals, sum(live()));
            prop_assert_eq!(t.b2b, sum(live().filter(|r| r.buyer_identifier != B2C_BUYER_IDENTIFIER)));
            prop_assert_eq!(t.b2c, sum(live().filter(|r| r.buyer_identifier == B2C_BUYER_IDENTIFIER)));
            prop_assert_eq!(t.allowances, sum(accepted()));
            prop_assert_eq!(t.counts.issued, invoices().count() as u64);
            prop_assert_eq!(t.counts.void, invoices().count() as u64 - live().count() as u64);
            prop_assert_eq!(t.counts.allowances, accepted().count() as u64);
            prop_assert_eq!(t.totals.total, t.totals.sales_amount + t.totals.tax_amount + t.totals.zero_tax_sales_amount + t.totals.free_tax_sales_amount);
        }
    }
}
