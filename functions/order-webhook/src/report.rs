//! `GET /v1/merchants/{merchant_id}/periods/{period}/report`: the period report (期別報表) for
//! the bimonthly VAT return (401 / 403), as JSON totals or as CSV rows (`?format=csv` or
//! `Accept: text/csv`). It reads the period's close record (one `Query` of the number-ledger
//! partition) and the merchant's invoices of the period from the `by-period` index, page by
//! page; each invoice becomes a row and each of its allowances (折讓) another
//! ([`einvoice_domain::report`]), and the totals are added up from those rows.
//! docs/period-report.md maps each figure to its box on the forms.

use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse};
use einvoice_adapters::orders::{AllowanceItem, AllowanceStatus, PeriodCursor, PeriodInvoice, UploadStatus};
use einvoice_adapters::tax::allowance_items;
use einvoice_adapters::wixtar::UnusedSpan;
use einvoice_domain::report::{BuyerKind, Counts, Figures, PeriodTotals, Row, RowKind, RowStatus};
use einvoice_domain::{InvoicePeriod, RuleViolation, taipei_date};
use http::StatusCode;
use serde::Serialize;

use crate::OrderWebhook;

pub const CSV: &str = "text/csv; charset=utf-8";

/// Invoices per `Query` page (about 0.5 KB each as the index holds them: under DynamoDB's
/// 1 MB page).
const PAGE: usize = 1000;

/// The largest CSV answered: a Lambda response carries at most 6 MB (its JSON envelope
/// included); past this the merchant gets 422 `report_too_large` instead of a 502.
pub const CSV_MAX_BYTES: usize = 5_500_000;

/// The byte order mark spreadsheet programs need to read the CSV as UTF-8 (the Chinese).
const BOM: &str = "\u{feff}";

/// The CSV's columns, in order.
pub const CSV_HEADER: [&str; 15] = [
    "kind",
    "number",
    "invoice_number",
    "date",
    "order_id",
    "buyer",
    "buyer_ubn",
    "tax_type",
    "sales_amount",
    "tax_amount",
    "zero_tax_sales_amount",
    "free_tax_sales_amount",
    "total",
    "status",
    "items",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// `?format=json|csv` decides; without it, `Accept` naming `text/csv` asks for CSV.
fn format(req: &ApiRequest) -> Result<Format, ApiError> {
    match req.query_param("format") {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(_) => Err(RuleViolation::on_field("invalid_format", "format", "format must be json or csv").into()),
        None => {
            let accepts_csv = req.header("accept").is_some_and(|accept| {
                accept.split(',').any(|range| range.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("text/csv")))
            });
            Ok(if accepts_csv { Format::Csv } else { Format::Json })
        }
    }
}

/// The JSON answer (DESIGN.md §7).
#[derive(Debug, Serialize)]
struct ReportView<'a> {
    period: &'a str,
    /// 賣方統一編號: the invoices', else the one the period's 字軌 were assigned to.
    seller_ubn: Option<String>,
    /// The period-close job has reported its unused numbers (空白字軌).
    closed: bool,
    counts: CountsView,
    totals: Figures,
    by_buyer: ByBuyer,
    allowances: AllowanceTotals,
    unused: Vec<UnusedSpan>,
}

#[derive(Debug, Serialize)]
struct CountsView {
    #[serde(flatten)]
    rows: Counts,
    numbers_unused: u64,
}

#[derive(Debug, Serialize)]
struct ByBuyer {
    b2b: Figures,
    b2c: Figures,
}

/// 銷貨退回及折讓: `amount` tax-inclusive, `tax_amount` its tax, and its parts by tax kind as
/// the invoices' (`sales_amount` the taxable part without its tax).
#[derive(Debug, Serialize)]
struct AllowanceTotals {
    amount: u64,
    tax_amount: u64,
    sales_amount: u64,
    zero_tax_sales_amount: u64,
    free_tax_sales_amount: u64,
}

impl From<Figures> for AllowanceTotals {
    fn from(f: Figures) -> Self {
        Self {
            amount: f.total,
            tax_amount: f.tax_amount,
            sales_amount: f.sales_amount,
            zero_tax_sales_amount: f.zero_tax_sales_amount,
            free_tax_sales_amount: f.free_tax_sales_amount,
        }
    }
}

/// The invoice's row and one row per allowance, amounts as the invoice view shows them.
pub fn rows(invoice: &PeriodInvoice) -> Vec<Row> {
    let status = match (invoice.voided_at, invoice.upload.status) {
        (Some(_), _) => RowStatus::Void,
        (None, UploadStatus::Uploaded) => RowStatus::Uploaded,
        (None, UploadStatus::Pending | UploadStatus::Failed) => RowStatus::Pending,
    };
    let row = |kind, number: &str, issued_at, figures, status, items: String| Row {
        kind,
        number: number.to_owned(),
        invoice_number: invoice.number.clone(),
        issued_at,
        order_id: invoice.order_id.clone(),
        buyer_identifier: invoice.buyer_identifier.clone(),
        tax_type: invoice.tax_type,
        figures,
        status,
        items,
    };
    let figures = Figures {
        sales_amount: u64::from(invoice.sales_amount),
        tax_amount: u64::from(invoice.tax_amount),
        zero_tax_sales_amount: u64::from(invoice.zero_tax_sales_amount),
        free_tax_sales_amount: u64::from(invoice.free_tax_sales_amount),
        total: u64::from(invoice.total),
    };
    let items = invoice.lines.iter().map(|l| l.description.as_str()).collect::<Vec<_>>().join("; ");
    let mut rows = vec![row(RowKind::Invoice, &invoice.number, invoice.issued_at, figures, status, items)];
    for a in &invoice.allowances {
        let items = allowance_items(a.parts()).into_iter().map(|i| i.description).collect::<Vec<_>>().join("; ");
        rows.push(row(RowKind::Allowance, &a.number, a.issued_at, allowance_figures(a), allowance_status(a.status), items));
    }
    rows
}

/// An allowance's amounts in the invoices' terms: the taxable part without its tax (B2B; B2C
/// allowances carry no tax), the tax, the zero-rated and tax-free parts, the whole amount.
fn allowance_figures(a: &AllowanceItem) -> Figures {
    let parts = a.parts();
    Figures {
        sales_amount: u64::from(parts.taxable.saturating_sub(a.tax_amount)),
        tax_amount: u64::from(a.tax_amount),
        zero_tax_sales_amount: u64::from(parts.zero_rated),
        free_tax_sales_amount: u64::from(parts.tax_free),
        total: u64::from(a.amount),
    }
}

fn allowance_status(status: AllowanceStatus) -> RowStatus {
    match status {
        AllowanceStatus::Pending => RowStatus::Pending,
        AllowanceStatus::Uploaded => RowStatus::Uploaded,
        AllowanceStatus::Void => RowStatus::Void,
    }
}

/// A free-text cell as written: one a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// a tab or carriage return first) gets a leading `'` (OWASP, "CSV Injection").
fn text_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// The CSV being written: BOM, header, then a row at a time.
pub struct CsvReport {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvReport {
    pub fn new() -> Self {
        let mut writer = csv::Writer::from_writer(BOM.as_bytes().to_vec());
        writer.write_record(CSV_HEADER).expect("writing to memory does not fail");
        Self { writer }
    }

    pub fn write(&mut self, row: &Row) {
        let b2b = row.buyer_kind() == BuyerKind::B2b;
        let f = &row.figures;
        let date = taipei_date(row.issued_at).to_string();
        let record: [std::borrow::Cow<'_, str>; 15] = [
            row.kind.as_str().into(),
            row.number.as_str().into(),
            row.invoice_number.as_str().into(),
            date.into(),
            text_cell(&row.order_id),
            (if b2b { "b2b" } else { "b2c" }).into(),
            (if b2b { row.buyer_identifier.as_str() } else { "" }).into(),
            row.tax_type.to_string().into(),
            f.sales_amount.to_string().into(),
            f.tax_amount.to_string().into(),
            f.zero_tax_sales_amount.to_string().into(),
            f.free_tax_sales_amount.to_string().into(),
            f.total.to_string().into(),
            row.status.as_str().into(),
            text_cell(&row.items),
        ];
        self.writer.write_record(record.iter().map(|c| c.as_bytes())).expect("writing to memory does not fail");
    }

    /// Bytes written so far (the writer's buffer aside: at most 8 KB more).
    pub fn len(&self) -> usize {
        self.writer.get_ref().len()
    }

    pub fn finish(self) -> String {
        let bytes = self.writer.into_inner().expect("flushing to memory does not fail");
        String::from_utf8(bytes).expect("every cell is UTF-8 text")
    }
}

impl Default for CsvReport {
    fn default() -> Self {
        Self::new()
    }
}

impl OrderWebhook {
    pub(crate) async fn period_report(&self, req: &ApiRequest, merchant_id: &str, period: &str) -> Result<ApiResponse, ApiError> {
        InvoicePeriod::parse(period)?;
        let format = format(req)?;
        let store = &self.deps.store;
        let numbers = store.period_numbers(merchant_id, period).await?;
        let mut seller_ubn = numbers.ranges.iter().find_map(|r| r.seller_ubn.clone());
        let mut totals = PeriodTotals::default();
        let mut csv = (format == Format::Csv).then(CsvReport::new);
        let (mut after, mut pages, mut invoices, mut items_read, mut read_units): (Option<PeriodCursor>, u32, u64, u64, f64) = (None, 0, 0, 0, 0.0);
        loop {
            let page = store.period_invoices(merchant_id, period, after.as_ref(), PAGE).await?;
            (pages, items_read, read_units) = (pages + 1, items_read + page.items_read, read_units + page.read_units);
            for invoice in &page.invoices {
                invoices += 1;
                if invoices == 1 {
                    seller_ubn = Some(invoice.seller_ubn.clone());
                }
                for row in rows(invoice) {
                    totals.add(&row);
                    if let Some(csv) = csv.as_mut() {
                        csv.write(&row);
                    }
                }
            }
            if csv.as_ref().is_some_and(|c| c.len() > CSV_MAX_BYTES) {
                tracing::warn!(period, invoices, "period report CSV too large for one response");
                return Err(RuleViolation::new(
                    "report_too_large",
                    format!("the period's CSV is over {CSV_MAX_BYTES} bytes, more than one response carries; the JSON report has its totals"),
                )
                .into());
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        tracing::info!(period, invoices, pages, items_read, read_units, format = ?format, "period report read");
        if let Some(csv) = csv {
            return Ok(ApiResponse { status: StatusCode::OK, content_type: CSV, body: csv.finish() });
        }
        let unused = match &numbers.closed {
            None => Vec::new(),
            Some(close) => close.unused.iter().map(|s| UnusedSpan::from_stored(s).ok_or(s)).collect::<Result<Vec<_>, _>>().map_err(|bad| {
                tracing::error!(span = %bad, "the period's close record holds a span that does not read back");
                ApiError::internal()
            })?,
        };
        Ok(ApiResponse::ok(&ReportView {
            period,
            seller_ubn,
            closed: numbers.closed.is_some(),
            counts: CountsView { rows: totals.counts, numbers_unused: numbers.closed.as_ref().map_or(0, |c| u64::from(c.unused_count)) },
            totals: totals.totals,
            by_buyer: ByBuyer { b2b: totals.b2b, b2c: totals.b2c },
            allowances: totals.allowances.into(),
            unused,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use einvoice_adapters::orders::UploadState;
    use einvoice_domain::InvoiceLine;
    use einvoice_domain::tax::TaxKind;
    use proptest::prelude::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T17:30:00Z").unwrap().to_utc()
    }

    fn invoice(number: &str, buyer: &str, amounts: (u32, u32, u32, u32), upload: UploadStatus, voided: bool) -> PeriodInvoice {
        let (sales_amount, tax_amount, zero_tax_sales_amount, free_tax_sales_amount) = amounts;
        let line = |description: &str| InvoiceLine { description: description.into(), quantity: 1, unit_price: 1, amount: 1, tax_type: TaxKind::Taxable };
        PeriodInvoice {
            merchant_id: "m-1".into(),
            order_id: format!("o-{number}"),
            number: number.into(),
            period: "11512".into(),
            issued_at: at(),
            seller_ubn: "04595257".into(),
            buyer_identifier: buyer.into(),
            tax_type: 1,
            sales_amount,
            tax_amount,
            total: sales_amount + tax_amount + zero_tax_sales_amount + free_tax_sales_amount,
            zero_tax_sales_amount,
            free_tax_sales_amount,
            lines: vec![line("凍頂烏龍茶, 150g"), line("運費")],
            upload: UploadState { status: upload, attempts: 1, last_error: None, uploaded_at: None, deadline: at() + Duration::days(2) },
            allowances: Vec::new(),
            voided_at: voided.then(at),
        }
    }

    fn allowance(number: &str, amount: u32, tax: u32, zero: u32, free: u32, status: AllowanceStatus) -> AllowanceItem {
        AllowanceItem {
            number: number.into(),
            amount,
            zero_tax_amount: zero,
            free_tax_amount: free,
            sales_amount: amount - tax,
            tax_amount: tax,
            issued_at: at() + Duration::days(3),
            status,
        }
    }

    #[test]
    fn an_invoice_is_one_row_and_each_allowance_another() {
        let mut b2b = invoice("UA00000002", "12345675", (1000, 50, 300, 0), UploadStatus::Uploaded, false);
        b2b.allowances =
            vec![allowance("UA00000002-1", 510, 10, 300, 0, AllowanceStatus::Uploaded), allowance("UA00000002-2", 21, 1, 0, 0, AllowanceStatus::Pending)];
        let rows = rows(&b2b);
        assert_eq!(
            rows.iter().map(|r| (r.kind, r.number.as_str(), r.status)).collect::<Vec<_>>(),
            [
                (RowKind::Invoice, "UA00000002", RowStatus::Uploaded),
                (RowKind::Allowance, "UA00000002-1", RowStatus::Uploaded),
                (RowKind::Allowance, "UA00000002-2", RowStatus::Pending),
            ]
        );
        // The invoice's amounts as its view shows them; the allowance's in the same terms.
        assert_eq!(rows[0].figures, Figures { sales_amount: 1000, tax_amount: 50, zero_tax_sales_amount: 300, free_tax_sales_amount: 0, total: 1350 });
        assert_eq!(rows[1].figures, Figures { sales_amount: 200, tax_amount: 10, zero_tax_sales_amount: 300, free_tax_sales_amount: 0, total: 510 });
        assert!(rows.iter().all(|r| r.invoice_number == "UA00000002" && r.buyer_kind() == BuyerKind::B2b));
        assert_eq!(rows[0].items, "凍頂烏龍茶, 150g; 運費");
        assert_eq!(rows[1].items, "退貨折讓(應稅); 退貨折讓(零稅率)");

        let pending = rows_status(invoice("UA00000003", "0000000000", (105, 0, 0, 0), UploadStatus::Failed, false));
        let void = rows_status(invoice("UA00000004", "0000000000", (105, 0, 0, 0), UploadStatus::Uploaded, true));
        assert_eq!((pending, void), (RowStatus::Pending, RowStatus::Void));
    }

    fn rows_status(i: PeriodInvoice) -> RowStatus {
        rows(&i)[0].status
    }

    fn read_csv(text: &str) -> Vec<csv::StringRecord> {
        let body = text.strip_prefix(BOM).expect("the CSV starts with a BOM");
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), CSV_HEADER);
        reader.records().map(Result::unwrap).collect()
    }

    #[test]
    fn the_csv_keeps_free_text_in_its_cell_and_defuses_formulas() {
        let mut inv = invoice("UA00000001", "0000000000", (1050, 0, 0, 0), UploadStatus::Uploaded, false);
        inv.lines[0].description = "=HYPERLINK(\"http://x\"), \"特價\"\n禮盒".into();
        let mut csv = CsvReport::new();
        for row in rows(&inv) {
            csv.write(&row);
        }
        let records = read_csv(&csv.finish());
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(&r[0], "invoice");
        assert_eq!(&r[3], "2026-12-02", "the Taipei date");
        assert_eq!((&r[5], &r[6]), ("b2c", ""), "no buyer UBN for a consumer");
        assert_eq!(&r[14], "'=HYPERLINK(\"http://x\"), \"特價\"\n禮盒; 運費");
        assert_eq!(text_cell("-5"), "'-5");
        assert_eq!(text_cell("凍頂烏龍茶"), "凍頂烏龍茶");
    }

    fn any_invoice() -> impl Strategy<Value = PeriodInvoice> {
        let upload = prop_oneof![Just(UploadStatus::Pending), Just(UploadStatus::Uploaded), Just(UploadStatus::Failed)];
        let allowance_status = prop_oneof![Just(AllowanceStatus::Pending), Just(AllowanceStatus::Uploaded), Just(AllowanceStatus::Void)];
        let allowances = proptest::collection::vec((0..5_000u32, 0..100u32, 0..100u32, 0..100u32, allowance_status), 0..3);
        (0..1_000_000u32, prop::bool::ANY, 0..10_000u32, 0..10_000u32, upload, prop::bool::ANY, allowances).prop_map(
            |(seq, b2b, zero, free, upload, voided, allowances)| {
                let number = format!("UA{seq:08}");
                let (buyer, sales, tax) = if b2b { ("12345675", seq % 10_000, seq % 500) } else { ("0000000000", seq % 10_000, 0) };
                let mut i = invoice(&number, buyer, (sales, tax, zero, free), upload, voided);
                i.allowances = allowances
                    .into_iter()
                    .enumerate()
                    .map(|(n, (taxable, tax, zero, free, status))| {
                        allowance(&format!("{number}-{}", n + 1), taxable + tax + zero + free, tax, zero, free, status)
                    })
                    .collect();
                i
            },
        )
    }

    proptest! {
        /// For any invoices and allowances, the totals the JSON report gives are the sums of
        /// the CSV's rows that count (invoices not void, allowances uploaded), by buyer kind
        /// too; and the CSV has one row per invoice and per allowance.
        #[test]
        fn the_totals_are_the_sums_of_the_csv_rows(invoices in proptest::collection::vec(any_invoice(), 0..40)) {
            let mut totals = PeriodTotals::default();
            let mut csv = CsvReport::new();
            for row in invoices.iter().flat_map(rows) {
                totals.add(&row);
                csv.write(&row);
            }
            let records = read_csv(&csv.finish());
            prop_assert_eq!(records.len(), invoices.len() + invoices.iter().map(|i| i.allowances.len()).sum::<usize>());
            let sum = |keep: &dyn Fn(&csv::StringRecord) -> bool| {
                let column = |c: usize| records.iter().filter(|r| keep(r)).map(|r| r[c].parse::<u64>().unwrap()).sum::<u64>();
                Figures { sales_amount: column(8), tax_amount: column(9), zero_tax_sales_amount: column(10), free_tax_sales_amount: column(11), total: column(12) }
            };
            let live = |r: &csv::StringRecord| &r[0] == "invoice" && &r[13] != "void";
            prop_assert_eq!(totals.totals, sum(&live));
            prop_assert_eq!(totals.b2b, sum(&|r| live(r) && &r[5] == "b2b"));
            prop_assert_eq!(totals.b2c, sum(&|r| live(r) && &r[5] == "b2c"));
            prop_assert_eq!(totals.allowances, sum(&|r| &r[0] == "allowance" && &r[13] == "uploaded"));
            prop_assert_eq!(totals.counts.issued as usize, records.iter().filter(|r| &r[0] == "invoice").count());
            prop_assert_eq!(totals.counts.void as usize, records.iter().filter(|r| &r[0] == "invoice" && &r[13] == "void").count());
        }
    }
}
