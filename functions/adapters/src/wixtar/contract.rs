//! The contract of the Wixtar port (feature `testing`): what every [`WixtarClient`] must do,
//! written once and run against each — the in-memory [`FakeWixtar`] by the adapters' unit
//! tests, [`super::HttpWixtarClient`] against the simulator by `tests/tests/provider_contract.rs`
//! — so the fake cannot drift from the simulator (and the simulator from
//! docs/wixtar-protocol.md, which both follow). Refusals are asserted as the HTTP client
//! reports them: `Rejected { status, message }` with the `error` code in the message.
//!
//! Each check works with a UBN of its own (random, checksum valid) and so with books, uploads
//! and request ids of its own: checks may share one Wixtar. Except
//! [`faults_fail_before_or_after_the_work`]: faults are armed for the whole Wixtar, so it needs
//! one to itself. The winners checks publish MOF's lists of periods no other check publishes,
//! each its own.

use std::future::Future;

use chrono::{DateTime, Utc};
use einvoice_domain::{Company, Contact, Ubn};

use einvoice_domain::PrizeKind;

use super::{
    AllowanceUpload, InvoiceUpload, OnboardingRequest, PosIdentity, UnusedSpan, UploadItem, UploadReceipt, Winner, WinnersAnswer, WireRange, WixtarClient,
};
use crate::testing::{FakeWixtar, Fault};
use crate::upstream::UpstreamError;

/// How a check sets up the Wixtar under test: the fake's own methods, the simulator's `/_sim`
/// endpoints.
pub trait WixtarControl: Send + Sync {
    /// The next `count` calls fail with `fault` (`0` disarms).
    fn fail_next(&self, fault: Fault, count: usize) -> impl Future<Output = ()> + Send;
    /// `ubn` gets at most `books` books per period.
    fn limit_books(&self, ubn: &str, books: u32) -> impl Future<Output = ()> + Send;
    /// From now on only `rid` is accepted for `ubn`.
    fn register(&self, ubn: &str, rid: &str) -> impl Future<Output = ()> + Send;
    /// Publishes MOF's list of winners of `period` (added to what was published of it).
    fn publish_winners(&self, period: &str, winners: &[Winner]) -> impl Future<Output = ()> + Send;
}

impl WixtarControl for FakeWixtar {
    async fn fail_next(&self, fault: Fault, count: usize) {
        FakeWixtar::fail_next(self, fault, count);
    }

    async fn limit_books(&self, ubn: &str, books: u32) {
        FakeWixtar::limit_books(self, ubn, books);
    }

    async fn register(&self, ubn: &str, rid: &str) {
        FakeWixtar::register(self, ubn, rid);
    }

    async fn publish_winners(&self, period: &str, winners: &[Winner]) {
        FakeWixtar::publish_winners(self, period, winners).expect("a well-formed list");
    }
}

const PERIOD: &str = "11512";
const NEXT_PERIOD: &str = "11602";
const RID: &str = "rid-contract";

/// A UBN no other check (or earlier run against the same Wixtar) uses: 7 random digits and the
/// check digit that makes the 統一編號 checksum hold.
pub fn unique_ubn() -> String {
    let base = format!("{:07}", rand::random_range(0..10_000_000u32));
    (0..10).map(|d| format!("{base}{d}")).find(|u| Ubn::parse(u).is_ok()).expect("one last digit makes every base valid")
}

pub fn pos(ubn: &str) -> PosIdentity {
    PosIdentity {
        ubn: ubn.into(),
        store_code: "S001".into(),
        pos_code: "POS-01".into(),
        pid: "PID-000123".into(),
        rid: RID.into(),
        pname: "小明商行 POS".into(),
    }
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().expect("RFC 3339")
}

fn item(amount: i64, tax_type: u8) -> UploadItem {
    UploadItem { description: "凍頂烏龍茶".into(), quantity: 1, unit_price: amount, amount, tax_type }
}

/// A B2C taxable invoice of 150 (100 + 50) under `number`.
pub fn invoice(ubn: &str, number: &str) -> InvoiceUpload {
    InvoiceUpload {
        number: number.into(),
        random_code: "0122".into(),
        period: PERIOD.into(),
        issued_at: at("2026-11-03T02:04:05Z"),
        order_id: format!("ord-{number}"),
        seller_ubn: ubn.into(),
        buyer_ubn: "0000000000".into(),
        buyer_name: String::new(),
        carrier_type: Some("3J0002".into()),
        carrier_id: Some("/ABC1234".into()),
        love_code: None,
        print: false,
        tax_type: 1,
        tax_rate: "0.05".into(),
        sales_amount: 150,
        zero_tax_sales_amount: 0,
        free_tax_sales_amount: 0,
        tax_amount: 0,
        total: 150,
        customs_clearance_mark: None,
        zero_tax_rate_reason: None,
        items: vec![item(100, 1), item(50, 1)],
    }
}

/// An allowance of `total` (taxable) against invoice `invoice_number`.
fn allowance(number: &str, invoice_number: &str, total: u64) -> AllowanceUpload {
    AllowanceUpload {
        number: number.into(),
        invoice_number: invoice_number.into(),
        issued_at: at("2026-11-04T00:00:00Z"),
        sales_amount: total,
        tax_amount: 0,
        total,
        items: vec![item(total as i64, 1)],
    }
}

/// The `n`-th number (from 0) of `book`.
fn number_in(book: &WireRange, n: u32) -> String {
    format!("{}{:08}", book.track, book.first.parse::<u32>().expect("8 digits") + n)
}

/// A book for `pos` in [`PERIOD`], asked with `request_id`.
async fn book(w: &(impl WixtarClient + ?Sized), pos: &PosIdentity, request_id: &str) -> WireRange {
    w.allocate_range(pos, PERIOD, request_id).await.expect("allocation answers").expect("a book is left")
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, UpstreamError>, status: u16, code: &str) {
    match result {
        Err(UpstreamError::Rejected { status: s, message }) if s == status && message.contains(code) => {}
        other => panic!("expected Rejected {{ {status}, …{code}… }}, got {other:?}"),
    }
}

#[track_caller]
fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, UpstreamError>) {
    assert!(matches!(result, Err(UpstreamError::Unavailable(_))), "expected Unavailable, got {result:?}");
}

fn receipt(number: &str, status: &str) -> UploadReceipt {
    UploadReceipt { number: number.into(), status: status.into() }
}

/// Books of 50 numbers, one per `request_id` (a repeat answers the same book and allocates
/// nothing); a `request_id` is for one period only.
pub async fn allocation_is_idempotent_by_request_id(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let p = pos(&unique_ubn());
    let first = book(w, &p, "r-1").await;
    assert_eq!(first.period, PERIOD);
    assert!(first.track.len() == 2 && first.track.bytes().all(|b| b.is_ascii_uppercase()), "{first:?}");
    let (lo, hi) = (first.first.parse::<u32>().unwrap(), first.last.parse::<u32>().unwrap());
    assert!(first.first.len() == 8 && first.last.len() == 8 && lo % 50 == 0 && hi == lo + 49, "a book of 50: {first:?}");
    assert_eq!(book(w, &p, "r-1").await, first, "same request_id, same book");
    let second = book(w, &p, "r-2").await;
    assert_ne!(second, first);
    assert_eq!(second.last.parse::<u32>().unwrap() - second.first.parse::<u32>().unwrap(), 49);
    assert_eq!(w.number_ranges(&p, PERIOD).await.unwrap(), [first.clone(), second], "the repeat allocated nothing");
    assert_refused(w.allocate_range(&p, NEXT_PERIOD, "r-1").await, 409, "request_id_conflict");
    // Request ids are the UBN's own.
    let other = pos(&unique_ubn());
    assert_ne!(book(w, &other, "r-1").await, first);
}

/// The ranges of a POS are those its UBN was allocated for the period, in order.
pub async fn ranges_are_listed_per_period(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    assert_eq!(w.number_ranges(&p, PERIOD).await.unwrap(), []);
    let (a, b) = (book(w, &p, "r-1").await, book(w, &p, "r-2").await);
    let later = w.allocate_range(&p, NEXT_PERIOD, "r-3").await.unwrap().unwrap();
    assert_eq!(later.period, NEXT_PERIOD);
    assert_eq!(w.number_ranges(&p, PERIOD).await.unwrap(), [a, b]);
    assert_eq!(w.number_ranges(&p, NEXT_PERIOD).await.unwrap(), [later]);
    // Every POS of the UBN sees them; another UBN does not.
    let other_machine = PosIdentity { pos_code: "POS-02".into(), pid: "PID-000999".into(), ..pos(&ubn) };
    assert_eq!(w.number_ranges(&other_machine, PERIOD).await.unwrap().len(), 2);
    assert_eq!(w.number_ranges(&pos(&unique_ubn()), PERIOD).await.unwrap(), []);
}

/// Past the UBN's book limit allocation answers `None` (`409 no_ranges_available`), per period;
/// a repeat still answers its book.
pub async fn the_book_limit_ends_allocation(w: &(impl WixtarClient + ?Sized), c: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    c.limit_books(&ubn, 1).await;
    let only = book(w, &p, "r-1").await;
    assert_eq!(w.allocate_range(&p, PERIOD, "r-2").await.unwrap(), None);
    assert_eq!(w.allocate_range(&p, PERIOD, "r-1").await.unwrap(), Some(only));
    assert!(w.allocate_range(&p, NEXT_PERIOD, "r-3").await.unwrap().is_some(), "the limit is per period");
    c.limit_books(&ubn, 0).await;
    assert_eq!(w.allocate_range(&p, NEXT_PERIOD, "r-4").await.unwrap(), None);
}

/// An upload carries a number of one of the UBN's books for the invoice's period.
pub async fn uploads_need_an_allocated_number(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    let others = book(w, &pos(&unique_ubn()), "r-1").await;
    assert_refused(w.upload_invoice(&p, &invoice(&ubn, &number_in(&others, 0))).await, 422, "number_not_allocated");
    assert_refused(w.upload_invoice(&p, &invoice(&ubn, &number_in(&mine, 50))).await, 422, "number_not_allocated");
    let lowercase = number_in(&mine, 1).to_lowercase();
    assert_refused(w.upload_invoice(&p, &invoice(&ubn, &lowercase)).await, 422, "number_not_allocated");
    let other_period = InvoiceUpload { period: NEXT_PERIOD.into(), ..invoice(&ubn, &number_in(&mine, 1)) };
    assert_refused(w.upload_invoice(&p, &other_period).await, 422, "number_not_allocated");
    let last = number_in(&mine, 49);
    assert_eq!(w.upload_invoice(&p, &invoice(&ubn, &last)).await.unwrap(), receipt(&last, "accepted"));
    assert_eq!(w.find_invoice(&p, &number_in(&mine, 1)).await.unwrap(), None, "nothing refused was recorded");
}

/// The number is the upload's idempotency key: the same content is accepted again, other
/// content refused; only the uploading UBN finds it.
pub async fn uploads_are_idempotent_by_number(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    let number = number_in(&mine, 7);
    let inv = invoice(&ubn, &number);
    assert_eq!(w.upload_invoice(&p, &inv).await.unwrap(), receipt(&number, "accepted"));
    assert_eq!(w.upload_invoice(&p, &inv).await.unwrap(), receipt(&number, "accepted"), "same content: accepted again");
    let other_machine = PosIdentity { pos_code: "POS-02".into(), ..p.clone() };
    assert_eq!(w.upload_invoice(&other_machine, &inv).await.unwrap(), receipt(&number, "accepted"), "numbers are the UBN's");
    let changed = InvoiceUpload { random_code: "9999".into(), ..inv.clone() };
    assert_refused(w.upload_invoice(&p, &changed).await, 409, "number_conflict");
    let recounted = InvoiceUpload { sales_amount: 151, total: 151, items: vec![item(100, 1), item(51, 1)], ..inv.clone() };
    assert_refused(w.upload_invoice(&p, &recounted).await, 409, "number_conflict");

    assert_eq!(w.find_invoice(&p, &number).await.unwrap(), Some(receipt(&number, "accepted")));
    assert_eq!(w.find_invoice(&p, &number_in(&mine, 8)).await.unwrap(), None);
    assert_eq!(w.find_invoice(&pos(&unique_ubn()), &number).await.unwrap(), None, "only the uploading UBN finds it");
}

/// The MIG 4.0 amount and tax-type rules, each refused with `422` and its code.
pub async fn uploads_follow_the_mig_tax_rules(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    let n = |i| number_in(&mine, i);
    let base = |i| invoice(&ubn, &n(i));
    // Zero-rated (type 2), with its customs mark and reason.
    let zero_rated = |i, customs_clearance_mark, reason: Option<&str>| InvoiceUpload {
        tax_type: 2,
        tax_rate: "0".into(),
        sales_amount: 0,
        zero_tax_sales_amount: 150,
        customs_clearance_mark,
        zero_tax_rate_reason: reason.map(str::to_owned),
        items: vec![item(150, 2)],
        ..base(i)
    };
    let refused: [(&str, InvoiceUpload); 11] = [
        ("amount_mismatch", InvoiceUpload { items: vec![item(99, 1), item(50, 1)], ..base(1) }),
        ("amount_mismatch", InvoiceUpload { tax_amount: 7, sales_amount: 143, ..base(1) }),
        ("amount_mismatch", InvoiceUpload { sales_amount: 140, ..base(1) }),
        ("tax_rate_mismatch", InvoiceUpload { tax_rate: "0".into(), ..base(1) }),
        ("invalid_tax_type", InvoiceUpload { tax_type: 4, ..base(1) }),
        ("item_tax_type_mismatch", InvoiceUpload { items: vec![item(100, 1), item(50, 3)], ..base(1) }),
        ("mixed_tax_b2b", InvoiceUpload { tax_type: 9, buyer_ubn: unique_ubn(), buyer_name: "某公司".into(), ..base(1) }),
        // Type 9: each kind's items add up to its amount.
        ("amount_mismatch", InvoiceUpload { tax_type: 9, sales_amount: 100, free_tax_sales_amount: 50, items: vec![item(90, 1), item(60, 3)], ..base(1) }),
        ("zero_tax_details_missing", zero_rated(1, None, Some("71"))),
        ("zero_tax_details_missing", zero_rated(1, Some(1), Some("70"))),
        (
            "item_tax_type_mismatch",
            InvoiceUpload { tax_type: 9, sales_amount: 100, free_tax_sales_amount: 50, items: vec![item(100, 1), item(50, 4)], ..base(1) },
        ),
    ];
    for (code, inv) in refused {
        let what = format!("{code}: {inv:?}");
        match w.upload_invoice(&p, &inv).await {
            Err(UpstreamError::Rejected { status: 422, message }) if message.contains(code) => {}
            other => panic!("expected 422 {what}, got {other:?}"),
        }
    }
    assert_eq!(w.find_invoice(&p, &n(1)).await.unwrap(), None, "nothing refused was recorded");

    let accepted: [InvoiceUpload; 4] = [
        // B2B taxable: sales = round(total / 1.05), tax the rest.
        InvoiceUpload { buyer_ubn: unique_ubn(), buyer_name: "某公司".into(), sales_amount: 143, tax_amount: 7, ..base(1) },
        zero_rated(2, Some(2), Some("71")),
        InvoiceUpload { tax_type: 3, tax_rate: "0".into(), sales_amount: 0, free_tax_sales_amount: 150, items: vec![item(150, 3)], ..base(3) },
        InvoiceUpload { tax_type: 9, sales_amount: 100, free_tax_sales_amount: 50, items: vec![item(100, 1), item(50, 3)], ..base(4) },
    ];
    for inv in accepted {
        assert_eq!(w.upload_invoice(&p, &inv).await.map_err(|e| format!("{e} for {inv:?}")).unwrap(), receipt(&inv.number, "accepted"));
    }
}

/// Requests of the wrong form are refused with `400`, before anything is done.
pub async fn malformed_requests_are_refused(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    assert_refused(w.allocate_range(&p, "11513", "r-1").await, 400, "period");
    assert_refused(w.allocate_range(&p, PERIOD, "").await, 400, "request_id");
    assert_refused(w.number_ranges(&p, "115").await, 400, "period");
    assert_refused(w.report_unused(&p, "11511", &[]).await, 400, "period");
    assert_refused(w.find_invoice(&p, "").await, 400, "number");
    let short_ubn = PosIdentity { ubn: "1234567".into(), ..p.clone() };
    assert_refused(w.number_ranges(&short_ubn, PERIOD).await, 400, "pos.ubn");
    let no_rid = PosIdentity { rid: String::new(), ..p.clone() };
    assert_refused(w.number_ranges(&no_rid, PERIOD).await, 400, "pos needs");
    assert_eq!(w.number_ranges(&p, PERIOD).await.unwrap(), [], "nothing was allocated");

    let mine = book(w, &p, "r-1").await;
    let other_seller = InvoiceUpload { seller_ubn: unique_ubn(), ..invoice(&ubn, &number_in(&mine, 0)) };
    assert_refused(w.upload_invoice(&p, &other_seller).await, 400, "seller_ubn");
    let no_items = InvoiceUpload { items: vec![], total: 0, sales_amount: 0, ..invoice(&ubn, &number_in(&mine, 0)) };
    assert_refused(w.upload_invoice(&p, &no_items).await, 400, "item");
    let odd_period = InvoiceUpload { period: "11511".into(), ..invoice(&ubn, &number_in(&mine, 0)) };
    assert_refused(w.upload_invoice(&p, &odd_period).await, 400, "period");
    assert_eq!(w.find_invoice(&p, &number_in(&mine, 0)).await.unwrap(), None);

    let mut hand_off = onboarding(&ubn, "");
    assert_refused(w.hand_off_contact(&hand_off).await, 400, "request_id");
    hand_off.request_id = format!("po_{ubn}");
    hand_off.ubn = String::new();
    assert_refused(w.hand_off_contact(&hand_off).await, 400, "ubn");
}

/// An invoice with an active allowance is not voided; once its allowances are void it is, and a
/// void invoice takes no allowance. Voids are idempotent.
pub async fn voids_wait_for_allowances(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    let number = number_in(&mine, 3);
    w.upload_invoice(&p, &invoice(&ubn, &number)).await.unwrap();
    // Allowance numbers are the seller's own; none is assumed to name its invoice.
    let first = format!("AL{ubn}01");
    assert_eq!(w.upload_allowance(&p, &allowance(&first, &number, 60)).await.unwrap(), receipt(&first, "accepted"));
    assert_eq!(w.upload_allowance(&p, &allowance(&first, &number, 60)).await.unwrap(), receipt(&first, "accepted"), "a repeat");
    assert_refused(w.void_invoice(&p, &number, "order cancelled").await, 409, "allowances_exist");
    assert_eq!(w.void_allowance(&p, &first, "order cancelled").await.unwrap(), receipt(&first, "void"));
    assert_eq!(w.void_allowance(&p, &first, "order cancelled").await.unwrap(), receipt(&first, "void"), "a repeat");
    assert_eq!(w.void_invoice(&p, &number, "order cancelled").await.unwrap(), receipt(&number, "void"));
    assert_eq!(w.void_invoice(&p, &number, "order cancelled").await.unwrap(), receipt(&number, "void"), "a repeat");
    assert_refused(w.upload_allowance(&p, &allowance(&format!("AL{ubn}02"), &number, 10)).await, 409, "invoice_void");
    assert_refused(w.upload_allowance(&p, &allowance(&first, &number, 60)).await, 409, "invoice_void");
    assert_eq!(w.find_invoice(&p, &number).await.unwrap(), Some(receipt(&number, "accepted")), "a void invoice is still found");

    assert_refused(w.void_invoice(&p, &number_in(&mine, 4), "order cancelled").await, 404, "not_found");
    assert_refused(w.void_allowance(&p, &format!("AL{ubn}99"), "order cancelled").await, 404, "not_found");
    assert_refused(w.upload_allowance(&p, &allowance(&format!("AL{ubn}03"), &number_in(&mine, 4), 10)).await, 404, "not_found");
    // Another UBN cannot void it.
    assert_refused(w.void_invoice(&pos(&unique_ubn()), &number, "order cancelled").await, 404, "not_found");
}

/// The active allowances of an invoice add up to no more than its total, and return only the
/// kinds it has.
pub async fn allowances_stay_within_the_invoice(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    let number = number_in(&mine, 5);
    w.upload_invoice(&p, &invoice(&ubn, &number)).await.unwrap();
    let al = |i: u32| format!("AL{ubn}{i:02}");
    assert_eq!(w.upload_allowance(&p, &allowance(&al(1), &number, 100)).await.unwrap(), receipt(&al(1), "accepted"));
    assert_refused(w.upload_allowance(&p, &allowance(&al(2), &number, 51)).await, 409, "allowance_exceeds_invoice");
    assert_refused(w.upload_allowance(&p, &allowance(&al(2), &number, 0)).await, 409, "allowance_exceeds_invoice");
    assert_eq!(w.upload_allowance(&p, &allowance(&al(2), &number, 50)).await.unwrap(), receipt(&al(2), "accepted"), "exactly what is left");
    w.void_allowance(&p, &al(1), "wrong amount").await.unwrap();
    assert_eq!(w.upload_allowance(&p, &allowance(&al(3), &number, 100)).await.unwrap(), receipt(&al(3), "accepted"), "a void allowance frees its amount");

    // Kinds: the invoice is taxable only.
    let other = number_in(&mine, 6);
    w.upload_invoice(&p, &invoice(&ubn, &other)).await.unwrap();
    let free = AllowanceUpload { items: vec![item(10, 3)], ..allowance(&al(4), &other, 10) };
    assert_refused(w.upload_allowance(&p, &free).await, 422, "allowance_tax_type_mismatch");
    let items_off = AllowanceUpload { items: vec![item(9, 1)], ..allowance(&al(4), &other, 10) };
    assert_refused(w.upload_allowance(&p, &items_off).await, 422, "amount_mismatch");
    assert_refused(w.void_allowance(&p, &al(4), "never taken").await, 404, "not_found");
    assert_eq!(w.upload_allowance(&p, &allowance(&al(4), &other, 150)).await.unwrap(), receipt(&al(4), "accepted"));
}

fn onboarding(ubn: &str, request_id: &str) -> OnboardingRequest {
    OnboardingRequest {
        request_id: request_id.into(),
        merchant_id: "contract-shop".into(),
        ubn: ubn.into(),
        plan_months: 12,
        bonus_months: 2,
        contact: Contact { name: "王小明".into(), email: "ming@example.com.tw".into(), phone: "0912-345-678".into() },
        company: Company {
            name: "小明商行有限公司".into(),
            ubn: Ubn::parse(ubn).expect("a valid UBN"),
            address: "台北市中山區南京東路一段1號".into(),
            invoice_email: "ap@example.com.tw".into(),
        },
    }
}

/// A contact hand-off is one per `request_id`: a repeat answers the same reference.
pub async fn contact_hand_off_is_idempotent(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let first = w.hand_off_contact(&onboarding(&ubn, &format!("po_{ubn}_1"))).await.unwrap();
    assert!(!first.reference.is_empty());
    assert_eq!(w.hand_off_contact(&onboarding(&ubn, &format!("po_{ubn}_1"))).await.unwrap(), first, "same request_id, same reference");
    assert_ne!(w.hand_off_contact(&onboarding(&ubn, &format!("po_{ubn}_2"))).await.unwrap(), first);
}

/// The unused numbers of a closed period are reported, as often as asked (a repeat replaces
/// the report).
pub async fn unused_numbers_are_reported_again_and_again(w: &(impl WixtarClient + ?Sized), _: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    let rest = UnusedSpan { track: mine.track.clone(), first: format!("{:08}", mine.first.parse::<u32>().unwrap() + 10), last: mine.last.clone() };
    w.report_unused(&p, PERIOD, std::slice::from_ref(&rest)).await.unwrap();
    w.report_unused(&p, PERIOD, &[rest]).await.unwrap();
    w.report_unused(&p, PERIOD, &[]).await.unwrap();
    w.report_unused(&p, NEXT_PERIOD, &[]).await.unwrap();
}

/// Any well-formed POS identity is accepted for a UBN until its real RID is registered; then
/// other RIDs are refused with `401 invalid_credentials` on every POS call.
pub async fn registered_credentials_are_checked(w: &(impl WixtarClient + ?Sized), c: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    let mine = book(w, &p, "r-1").await;
    c.register(&ubn, "the-real-rid").await;
    assert_refused(w.number_ranges(&p, PERIOD).await, 401, "invalid_credentials");
    assert_refused(w.allocate_range(&p, PERIOD, "r-2").await, 401, "invalid_credentials");
    assert_refused(w.upload_invoice(&p, &invoice(&ubn, &number_in(&mine, 0))).await, 401, "invalid_credentials");
    assert_refused(w.find_invoice(&p, &number_in(&mine, 0)).await, 401, "invalid_credentials");
    assert_refused(w.report_unused(&p, PERIOD, &[]).await, 401, "invalid_credentials");
    assert_refused(w.winners(&p, PERIOD).await, 401, "invalid_credentials");
    let real = PosIdentity { rid: "the-real-rid".into(), ..p.clone() };
    assert_eq!(w.number_ranges(&real, PERIOD).await.unwrap(), std::slice::from_ref(&mine));
    assert_eq!(w.upload_invoice(&real, &invoice(&ubn, &number_in(&mine, 0))).await.unwrap(), receipt(&number_in(&mine, 0), "accepted"));
    // Other UBNs are not concerned.
    assert!(w.number_ranges(&pos(&unique_ubn()), PERIOD).await.is_ok());
}

/// An `Unavailable` fault fails a call before anything is done; an `AfterWork` fault does the
/// work and loses the answer (so the caller repeats it, or looks the upload up first); a
/// refusal, or a look-up that finds nothing, does not use it up. Needs a Wixtar of its own.
pub async fn faults_fail_before_or_after_the_work(w: &(impl WixtarClient + ?Sized), c: &impl WixtarControl) {
    let ubn = unique_ubn();
    let p = pos(&ubn);
    c.fail_next(Fault::Unavailable, 1).await;
    assert_unavailable(w.allocate_range(&p, PERIOD, "r-1").await);
    assert_eq!(w.number_ranges(&p, PERIOD).await.unwrap(), [], "nothing was allocated");
    let first = book(w, &p, "r-1").await;

    c.fail_next(Fault::AfterWork, 1).await;
    let inv = invoice(&ubn, &number_in(&first, 0));
    assert_unavailable(w.upload_invoice(&p, &inv).await);
    assert_eq!(w.find_invoice(&p, &inv.number).await.unwrap(), Some(receipt(&inv.number, "accepted")), "the upload was recorded");
    assert_eq!(w.upload_invoice(&p, &inv).await.unwrap(), receipt(&inv.number, "accepted"), "and is accepted again");

    c.fail_next(Fault::AfterWork, 1).await;
    assert_refused(w.upload_invoice(&p, &invoice(&ubn, &number_in(&first, 50))).await, 422, "number_not_allocated");
    assert_eq!(w.find_invoice(&p, &number_in(&first, 1)).await.unwrap(), None);
    assert_unavailable(w.allocate_range(&p, PERIOD, "r-2").await);
    let second = book(w, &p, "r-2").await;
    assert_eq!(w.number_ranges(&p, PERIOD).await.unwrap(), [first, second], "the lost answer's book, asked again");

    c.fail_next(Fault::Unavailable, 2).await;
    c.fail_next(Fault::Unavailable, 0).await;
    assert!(w.number_ranges(&p, PERIOD).await.is_ok(), "a count of 0 disarms");
}

fn winner(number: &str, kind: PrizeKind, amount: u64) -> Winner {
    Winner { number: number.into(), kind, amount }
}

fn published(winners: &[Winner]) -> WinnersAnswer {
    WinnersAnswer::Published { winners: winners.to_vec() }
}

/// A book of `period` for `pos`, with its first `count` numbers uploaded (B2C invoices of 150).
async fn uploaded(w: &(impl WixtarClient + ?Sized), pos: &PosIdentity, period: &str, count: u32) -> (WireRange, Vec<String>) {
    let book = w.allocate_range(pos, period, &format!("r-{period}")).await.expect("allocation answers").expect("a book is left");
    let mut numbers = Vec::new();
    for n in 0..count {
        let upload = InvoiceUpload { period: period.into(), ..invoice(&pos.ubn, &number_in(&book, n)) };
        w.upload_invoice(pos, &upload).await.expect("the upload is accepted");
        numbers.push(upload.number);
    }
    (book, numbers)
}

/// Until MOF's list of a period is published the answer is "not yet" (however often asked);
/// then the list, which may hold none of the UBN's numbers.
pub async fn winners_are_not_yet_until_the_list_is_published(w: &(impl WixtarClient + ?Sized), c: &impl WixtarControl) {
    const DRAWN: &str = "11508";
    const EMPTY: &str = "11504";
    let p = pos(&unique_ubn());
    let (_, numbers) = uploaded(w, &p, DRAWN, 2).await;
    assert_eq!(w.winners(&p, DRAWN).await.unwrap(), WinnersAnswer::NotYet);
    assert_eq!(w.winners(&p, DRAWN).await.unwrap(), WinnersAnswer::NotYet, "asked again");
    c.publish_winners(DRAWN, &[winner(&numbers[1], PrizeKind::Sixth, 200)]).await;
    assert_eq!(w.winners(&p, DRAWN).await.unwrap(), published(&[winner(&numbers[1], PrizeKind::Sixth, 200)]));
    assert_eq!(w.winners(&p, DRAWN).await.unwrap(), published(&[winner(&numbers[1], PrizeKind::Sixth, 200)]), "a repeat answers the same");
    c.publish_winners(EMPTY, &[]).await;
    assert_eq!(w.winners(&p, EMPTY).await.unwrap(), published(&[]), "published with no winners is not \"not yet\"");
    assert_eq!(w.winners(&p, "11502").await.unwrap(), WinnersAnswer::NotYet, "other periods are not published with it");
    assert_refused(w.winners(&p, "11509").await, 400, "period");
}

/// A UBN is answered only the numbers on the list it uploaded for that period, in the list's
/// order: never another seller's, never a number of its book it did not upload, never one it
/// uploaded for another period.
pub async fn winners_are_only_the_sellers_own_uploaded_numbers(w: &(impl WixtarClient + ?Sized), c: &impl WixtarControl) {
    const DRAWN: &str = "11510";
    let (a, b) = (pos(&unique_ubn()), pos(&unique_ubn()));
    let (book_a, mine) = uploaded(w, &a, DRAWN, 2).await;
    let (_, theirs) = uploaded(w, &b, DRAWN, 1).await;
    let (_, mine_later) = uploaded(w, &a, PERIOD, 1).await;
    let never_uploaded = number_in(&book_a, 2);
    let list = [
        winner(&theirs[0], PrizeKind::Grand, 2_000_000),
        winner(&mine[0], PrizeKind::First, 200_000),
        winner(&never_uploaded, PrizeKind::Sixth, 200),
        winner(&mine_later[0], PrizeKind::Sixth, 200),
        winner("ZZ99999999", PrizeKind::Cloud, 500),
    ];
    c.publish_winners(DRAWN, &list).await;
    assert_eq!(w.winners(&a, DRAWN).await.unwrap(), published(&[winner(&mine[0], PrizeKind::First, 200_000)]));
    assert_eq!(w.winners(&b, DRAWN).await.unwrap(), published(&[winner(&theirs[0], PrizeKind::Grand, 2_000_000)]));
    let other_machine = PosIdentity { pos_code: "POS-02".into(), pid: "PID-000999".into(), ..a.clone() };
    assert_eq!(w.winners(&other_machine, DRAWN).await.unwrap(), published(&[winner(&mine[0], PrizeKind::First, 200_000)]), "every POS of the UBN");
    assert_eq!(w.winners(&pos(&unique_ubn()), DRAWN).await.unwrap(), published(&[]), "a UBN with no uploads");
    // More of the list arrives: in the list's order.
    c.publish_winners(DRAWN, &[winner(&mine[1], PrizeKind::Cloud, 2_000)]).await;
    assert_eq!(w.winners(&a, DRAWN).await.unwrap(), published(&[winner(&mine[0], PrizeKind::First, 200_000), winner(&mine[1], PrizeKind::Cloud, 2_000)]));
}

/// Faults apply to the winners call like the others: `Unavailable` before the answer, an
/// `AfterWork` loses the answer (the call is read-only: asking again answers the same).
/// Needs a Wixtar of its own.
pub async fn faults_apply_to_the_winners_call(w: &(impl WixtarClient + ?Sized), c: &impl WixtarControl) {
    const DRAWN: &str = "11506";
    let p = pos(&unique_ubn());
    let (_, numbers) = uploaded(w, &p, DRAWN, 1).await;
    c.publish_winners(DRAWN, &[winner(&numbers[0], PrizeKind::Fifth, 1_000)]).await;
    c.fail_next(Fault::Unavailable, 1).await;
    assert_unavailable(w.winners(&p, DRAWN).await);
    assert_eq!(w.winners(&p, DRAWN).await.unwrap(), published(&[winner(&numbers[0], PrizeKind::Fifth, 1_000)]));
    c.fail_next(Fault::AfterWork, 1).await;
    assert_unavailable(w.winners(&p, DRAWN).await);
    assert_eq!(w.winners(&p, DRAWN).await.unwrap(), published(&[winner(&numbers[0], PrizeKind::Fifth, 1_000)]));
}

/// One test per contract check, each against a Wixtar made by `let <pattern> = <make>;`, passed
/// as `<client>, <control>`: `wixtar_contract_tests!(let w = FakeWixtar::new(); &w, &w);`.
#[macro_export]
macro_rules! wixtar_contract_tests {
    (let $pat:pat = $make:expr; $client:expr, $control:expr) => {
        $crate::provider_contract_tests!($crate::wixtar::contract; let $pat = $make; ($client, $control);
            allocation_is_idempotent_by_request_id,
            ranges_are_listed_per_period,
            the_book_limit_ends_allocation,
            uploads_need_an_allocated_number,
            uploads_are_idempotent_by_number,
            uploads_follow_the_mig_tax_rules,
            malformed_requests_are_refused,
            voids_wait_for_allowances,
            allowances_stay_within_the_invoice,
            contact_hand_off_is_idempotent,
            unused_numbers_are_reported_again_and_again,
            registered_credentials_are_checked,
            faults_fail_before_or_after_the_work,
            winners_are_not_yet_until_the_list_is_published,
            winners_are_only_the_sellers_own_uploaded_numbers,
            faults_apply_to_the_winners_call,
        );
    };
}

#[cfg(test)]
mod fake {
    crate::wixtar_contract_tests!(let w = crate::testing::FakeWixtar::new(); &w, &w);
}
