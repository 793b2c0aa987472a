//! The contract of the order-side ports: [`OrderStore`], [`InvoiceStore`], [`NumberLedger`] and
//! [`DueIndex`]. Races are run as concurrent calls on one store (the in-memory adapter yields
//! at each call, so they interleave; against moto they are concurrent requests).

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use einvoice_domain::recovery::HANDOFF_GRACE;
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::{Order, OrderState, OrderWire};
use serde_json::json;

use super::{is_conflict, now, settings_item, unique};
use crate::store::orders::{
    AllowanceItem, AllowanceStatus, Due, InvoiceItem, InvoiceStatus, OrderItem, OrderWrite, PeriodCloseItem, RangeItem, UploadState, UploadStatus, due_stamp,
    lines_key, order_keys,
};
use crate::store::{DueIndex, InvoiceStore, NumberLedger, OrderStore, PlanItem, PlanStore, SettingsStore, StoreError};

/// What a check looks at below the ports: the items a large order's lines are stored in, by
/// key, with the time each was written (a rewrite would change it).
#[async_trait]
pub trait OrderLinesProbe: Send + Sync {
    async fn order_lines_items(&self, merchant_id: &str, order_id: &str) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
}

/// Runs the futures concurrently (on this task) and gives their outputs in order.
pub(super) async fn all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()).filter(|(_, o)| o.is_none()) {
            match future.as_mut().poll(cx) {
                Poll::Ready(value) => *output = Some(value),
                Poll::Pending => pending = true,
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// An order of `lines` lines (each about 60 bytes stored: 20 or more make a large order).
pub fn shop_order(id: &str, lines: usize, payment: &str, unit_price: u32) -> Order {
    let lines: Vec<_> =
        (0..lines).map(|i| json!({"sku": format!("SKU-{i:05}"), "name": format!("凍頂烏龍茶 第{i}號"), "quantity": 1, "unit_price": unit_price})).collect();
    let total = unit_price * lines.len() as u32;
    let order = json!({"id": id, "currency": "TWD", "payment_status": payment, "delivery_status": "pending", "logistics": "tcat",
                       "lines": lines, "total": total, "buyer": {"name": "陳小華", "email": "hua@example.com"}});
    serde_json::from_value::<OrderWire>(order).expect("order wire").parse().expect("a valid order")
}

/// An order as its first webhook writes it.
fn order_item(merchant: &str, id: &str, lines: usize) -> OrderItem {
    let at = now();
    let mut item = OrderItem::new(merchant, id, OrderState::new(shop_order(id, lines, "paid", 100), at), at);
    item.remember(&format!("{id}-created"));
    item
}

/// An order as a webhook writes the claim of its invoice: `issuing`, handed over.
pub(super) fn claimed(merchant: &str, id: &str) -> OrderItem {
    let mut item = order_item(merchant, id, 2);
    item.invoice_status = InvoiceStatus::Issuing;
    item.invoice_trigger = Some(IssueTrigger::Shipment);
    item.invoice_requested_at = Some(item.updated_at);
    item.request_pending = true;
    item.hand_over(item.updated_at);
    item
}

/// The order `item` as the next write makes it (one version on).
fn next_version(item: &OrderItem) -> OrderItem {
    OrderItem { version: item.version + 1, events_seen: item.events_seen + 1, updated_at: now(), ..item.clone() }
}

/// The invoice of `order_id` with `number` of seller `ubn`.
pub fn invoice_item(merchant: &str, order_id: &str, ubn: &str, number: &str) -> InvoiceItem {
    let at = now();
    InvoiceItem {
        pk: order_keys::order(merchant, order_id),
        sk: order_keys::INVOICE.into(),
        entity: "invoice".into(),
        merchant_id: merchant.into(),
        order_id: order_id.into(),
        number: number.into(),
        random_code: "1234".into(),
        period: "11512".into(),
        issued_at: at,
        trigger: IssueTrigger::Shipment,
        seller_ubn: ubn.into(),
        buyer_identifier: "0000000000".into(),
        buyer_name: "陳小華".into(),
        carrier_type: None,
        carrier_id: None,
        love_code: None,
        print: true,
        tax_type: 1,
        sales_amount: 190,
        tax_amount: 10,
        total: 200,
        zero_tax_sales_amount: 0,
        free_tax_sales_amount: 0,
        zero_rating: None,
        lines: Vec::new(),
        barcode: format!("11512{number}1234"),
        qr_left: String::new(),
        qr_right: String::new(),
        upload: UploadState { status: UploadStatus::Pending, attempts: 0, last_error: None, uploaded_at: None, deadline: at + Duration::days(2) },
        allowances: Vec::new(),
        voided_at: None,
        prize: None,
    }
}

fn allowance(invoice: &InvoiceItem, n: usize, amount: u32) -> AllowanceItem {
    AllowanceItem {
        number: format!("{}-{n}", invoice.number),
        amount,
        zero_tax_amount: 0,
        free_tax_amount: 0,
        sales_amount: amount - amount / 21,
        tax_amount: amount / 21,
        issued_at: now(),
        status: AllowanceStatus::Pending,
    }
}

/// A 字軌 range `track` `first..=last` of `merchant` in `period`, nothing taken yet.
pub fn range_item(merchant: &str, period: &str, track: &str, first: u32, last: u32) -> RangeItem {
    RangeItem {
        pk: order_keys::ranges(merchant, period),
        sk: order_keys::range(track, first),
        entity: "number_range".into(),
        merchant_id: merchant.into(),
        period: period.into(),
        track: track.into(),
        first,
        last,
        next: first,
        request_id: format!("{merchant}:{period}:1"),
        seller_ubn: Some("04595257".into()),
        fetched_at: now(),
    }
}

/// A seller UBN no other check uses (number guards are the seller's, whatever the merchant).
pub(super) fn seller() -> String {
    format!("{:08}", uuid::Uuid::new_v4().as_u128() % 100_000_000)
}

fn ok_count<T>(results: &[Result<T, StoreError>]) -> usize {
    results.iter().filter(|r| r.is_ok()).count()
}

/// Orders are written from the version read: a first write only where none exists, then each
/// from the version before; a refused write writes nothing and answers the order as it is
/// (whole), so the caller merges again without reading; every read agrees on what is stored.
pub async fn orders_are_written_from_the_version_read<S: OrderStore + PlanStore + SettingsStore + ?Sized>(s: &S) {
    let (m, id) = (unique("m"), unique("o"));
    let first = order_item(&m, &id, 2);
    assert_eq!(s.save_order(&first, None).await.unwrap(), OrderWrite::Saved);
    assert_eq!(s.save_order(&first, None).await.unwrap(), OrderWrite::Stale(Some(Box::new(first.clone()))), "a second first write");
    let mut paid = next_version(&first);
    paid.state = first.state.clone().merge(shop_order(&id, 2, "paid", 100), now());
    paid.remember(&format!("{id}-paid"));
    assert_eq!(s.save_order(&paid, Some(&first)).await.unwrap(), OrderWrite::Saved);
    // A write from the copy read before it: refused, with the order as it is now.
    let mut late = next_version(&first);
    late.remember(&format!("{id}-late"));
    assert_eq!(s.save_order(&late, Some(&first)).await.unwrap(), OrderWrite::Stale(Some(Box::new(paid.clone()))));
    assert_eq!(s.order(&m, &id).await.unwrap(), Some(paid.clone()), "a refused write wrote nothing");
    // A write from a version of an order that does not exist: refused, nothing to answer with.
    let ghost = OrderItem { version: 3, ..order_item(&m, &unique("o"), 2) };
    assert_eq!(s.save_order(&ghost, None).await.unwrap(), OrderWrite::Stale(None));
    assert_eq!(s.order(&m, &ghost.order_id).await.unwrap(), None);

    // Every read of the order agrees, with the merchant's settings and plan where it brings them.
    assert_eq!(s.order_head(&m, &id).await.unwrap(), Some(paid.head()));
    let context = s.webhook_context(&m, &id, &paid.state.order).await.unwrap();
    assert_eq!((context.order.as_ref(), context.settings, context.plan), (Some(&paid), None, None));
    s.put_settings(&settings_item(&m, 1, "S001")).await.unwrap();
    let mut plan = PlanItem::empty(&m, now());
    (plan.version, plan.company_name) = (1, Some("小明商行".into()));
    s.put_plan(&plan, None).await.unwrap();
    let context = s.webhook_context(&m, &id, &paid.state.order).await.unwrap();
    assert_eq!((context.order.as_ref(), context.settings.map(|i| i.store_code), context.plan.as_ref()), (Some(&paid), Some("S001".into()), Some(&plan)));
    assert_eq!(s.invoice_view_context(&m, &id).await.unwrap(), (Some(paid.head()), None));
    assert_eq!(s.proof_context(&m, &id).await.unwrap(), (Some(paid.head()), None, Some(plan)));
    let issue = s.issue_context(&m, &id).await.unwrap();
    assert_eq!((issue.order.as_ref(), issue.invoice, issue.settings.is_some()), (Some(&paid), None, true));
    assert_eq!(s.order_and_invoice(&m, &id).await.unwrap(), (Some(paid.clone()), None));
    assert_eq!(s.order_head(&m, &unique("o")).await.unwrap(), None);
}

/// A large order's lines live in an item of their own, written once per content (never again,
/// whatever the order's later writes), and every read gives the order whole; a small order's
/// lines stay in the order.
pub async fn a_large_orders_lines_are_stored_once_per_content_and_read_back_whole<S: OrderStore + OrderLinesProbe + ?Sized>(s: &S) {
    let (m, id) = (unique("m"), unique("o"));
    let first = OrderItem::new(&m, &id, OrderState::new(shop_order(&id, 300, "unpaid", 10), now()), now());
    assert_eq!(s.save_order(&first, None).await.unwrap(), OrderWrite::Saved);
    let key = lines_key(&first.state.order).expect("300 lines are stored apart");
    assert!(key.starts_with(order_keys::LINES_PREFIX) && key.len() == order_keys::LINES_PREFIX.len() + 64, "{key}");
    let items = s.order_lines_items(&m, &id).await.unwrap();
    assert_eq!(items, [(key.clone(), first.updated_at)]);

    // Read back whole, by every read; the webhook's read gives the stored lines whatever the event's.
    let back = s.order(&m, &id).await.unwrap().unwrap();
    assert_eq!((&back.state, back.lines_key.as_deref()), (&first.state, Some(key.as_str())));
    assert_eq!(s.order_and_invoice(&m, &id).await.unwrap().0.unwrap().state, first.state);
    assert_eq!(s.issue_context(&m, &id).await.unwrap().order.unwrap().state, first.state);
    assert_eq!(s.invoice_view_context(&m, &id).await.unwrap().0.unwrap().version, 1);
    for event in [first.state.order.clone(), shop_order(&id, 300, "paid", 12), shop_order(&id, 1, "paid", 12)] {
        assert_eq!(s.webhook_context(&m, &id, &event).await.unwrap().order.unwrap().state, first.state);
    }

    // A status change rewrites only the order: the lines item is not written again.
    let paid = OrderItem {
        version: 2,
        updated_at: now() + Duration::seconds(1),
        state: back.state.clone().merge(shop_order(&id, 300, "paid", 10), now()),
        ..back.clone()
    };
    assert_eq!(s.save_order(&paid, Some(&back)).await.unwrap(), OrderWrite::Saved);
    assert_eq!(s.order_lines_items(&m, &id).await.unwrap(), items, "never rewritten");

    // A write from a stale copy brings the order as it is now, whole.
    match s.save_order(&OrderItem { version: 2, ..back.clone() }, Some(&back)).await.unwrap() {
        OrderWrite::Stale(Some(current)) => assert_eq!((current.version, &current.state), (2, &paid.state)),
        other => panic!("expected the current order, got {other:?}"),
    }

    // Other lines: a second lines item; the first stays as it was (immutable, by content).
    let edited = OrderItem {
        version: 3,
        updated_at: now() + Duration::seconds(2),
        state: paid.state.clone().merge(shop_order(&id, 300, "paid", 11), now() + Duration::seconds(1)),
        ..paid.clone()
    };
    assert_eq!(s.save_order(&edited, Some(&paid)).await.unwrap(), OrderWrite::Saved);
    let items = s.order_lines_items(&m, &id).await.unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.contains(&(key.clone(), first.updated_at)));
    let back = s.order(&m, &id).await.unwrap().unwrap();
    assert_eq!(back.state, edited.state);
    assert_eq!(back.lines_key, lines_key(&edited.state.order));
    assert_ne!(back.lines_key.as_deref(), Some(key.as_str()));

    // A small order keeps its lines in the order item.
    let small = OrderItem::new(&m, "small", OrderState::new(shop_order("small", 2, "paid", 10), now()), now());
    assert_eq!(lines_key(&small.state.order), None);
    assert_eq!(s.save_order(&small, None).await.unwrap(), OrderWrite::Saved);
    assert!(s.order_lines_items(&m, "small").await.unwrap().is_empty());
    let back = s.order(&m, "small").await.unwrap().unwrap();
    assert_eq!((back.state, back.lines_key), (small.state, None));
}

/// Exactly one invoice per order and per number, however many record at once: the others are
/// refused (`Conflict`) and write nothing. Recording answers the claim (`issued`, the upload
/// due after the hand-off grace); the number guards say which numbers carry an invoice.
pub async fn one_invoice_per_order_and_per_number<S: OrderStore + InvoiceStore + NumberLedger + ?Sized>(s: &S) {
    let (m, seller) = (unique("m"), seller());
    let ubn = seller.as_str();
    let orders: Vec<String> = (0..6).map(|i| format!("o{i}")).collect();
    for id in &orders {
        assert_eq!(s.save_order(&claimed(&m, id), None).await.unwrap(), OrderWrite::Saved);
    }
    let number = |n: u32| format!("QA{n:08}");
    // One order, five numbers at once: one invoice.
    let numbers: Vec<String> = (0..5).map(number).collect();
    let invoices: Vec<InvoiceItem> = numbers.iter().map(|n| invoice_item(&m, "o0", ubn, n)).collect();
    let results = all(invoices.iter().map(|i| s.record_invoice(i))).await;
    assert_eq!(ok_count(&results), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || is_conflict(r.clone())), "{results:?}");
    let winner = numbers[results.iter().position(Result::is_ok).unwrap()].clone();
    let invoice = s.invoice(&m, "o0").await.unwrap().unwrap();
    assert_eq!(invoice.number, winner);
    // One number, five orders at once: one invoice.
    let shared = number(7);
    let invoices: Vec<InvoiceItem> = orders[1..].iter().map(|id| invoice_item(&m, id, ubn, &shared)).collect();
    let results = all(invoices.iter().map(|i| s.record_invoice(i))).await;
    assert_eq!(ok_count(&results), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || is_conflict(r.clone())), "{results:?}");
    let mut invoiced = Vec::new();
    for id in &orders[1..] {
        invoiced.extend(s.invoice(&m, id).await.unwrap().map(|i| (i.order_id, i.number)));
    }
    assert_eq!(invoiced.len(), 1, "{invoiced:?}");
    let taken_by = invoiced[0].0.clone();
    let loser = orders[1..].iter().find(|id| **id != taken_by).unwrap();
    // The losers' orders are as they were: still claimed, not issued.
    let unissued = s.order(&m, loser).await.unwrap().unwrap();
    assert_eq!((unissued.invoice_status, unissued.request_pending, unissued.version), (InvoiceStatus::Issuing, true, 1));
    // Refused one at a time too: an order with an invoice, a number taken.
    assert!(is_conflict(s.record_invoice(&invoice_item(&m, "o0", ubn, &number(8))).await));
    assert!(is_conflict(s.record_invoice(&invoice_item(&m, loser, ubn, &winner)).await));
    assert_eq!(s.invoice(&m, loser).await.unwrap(), None);
    // Numbers are the seller's: the same number of another seller is free.
    let other_seller = self::seller();
    s.record_invoice(&invoice_item(&m, loser, &other_seller, &winner)).await.unwrap();
    // No order, no invoice: refused (not as a conflict), nothing written.
    let ghost = number(9);
    let refused = s.record_invoice(&invoice_item(&m, "no-such-order", ubn, &ghost)).await;
    assert!(refused.is_err() && !is_conflict(refused.clone()), "{refused:?}");
    assert_eq!(s.invoice(&m, "no-such-order").await.unwrap(), None);

    // The order's claim is answered: issued, the upload due after the grace, version moved.
    let issued = s.order(&m, "o0").await.unwrap().unwrap();
    assert_eq!((issued.invoice_status, issued.request_pending, issued.invoice_reason.as_deref(), issued.version), (InvoiceStatus::Issued, false, None, 2));
    assert_eq!(issued.due_at.map(due_stamp), Some(due_stamp(invoice.issued_at + HANDOFF_GRACE)));
    // The guards (more than one read's worth, some asked twice): only the numbers that carry an
    // invoice, of this seller.
    let mut asked: Vec<String> = (10..140).map(number).collect();
    asked.extend([winner.clone(), shared.clone(), ghost, numbers[0].clone(), numbers[1].clone()]);
    let in_use = s.numbers_in_use(ubn, &asked).await.unwrap();
    assert_eq!(in_use, HashSet::from([winner.clone(), shared]));
    assert_eq!(s.numbers_in_use(&other_seller, &asked).await.unwrap(), HashSet::from([winner]));
}

/// Concurrent takers of one range never get a sequence twice; the last block is the tail; a
/// used-up (or unknown) range gives nothing. Ranges are stored once and read in key order.
pub async fn number_blocks_are_taken_once<S: NumberLedger + ?Sized>(s: &S) {
    let (m, period) = (unique("m"), unique("p"));
    let range = range_item(&m, &period, "UA", 0, 49);
    assert!(s.add_range(&range).await.unwrap());
    assert!(!s.add_range(&RangeItem { last: 99, ..range.clone() }).await.unwrap(), "a range stored twice");
    let small = range_item(&m, &period, "AB", 100, 109);
    assert!(s.add_range(&small).await.unwrap());
    assert_eq!(s.ranges(&m, &period).await.unwrap(), [small.clone(), range.clone()], "in key order, as first stored");

    // Eight takers, blocks of three, until the range is used up.
    let taker = || async {
        let mut blocks = Vec::new();
        while let Some(block) = s.take_block(&range, 3).await.unwrap() {
            blocks.push(block);
        }
        blocks
    };
    let blocks: Vec<(u32, u32)> = all((0..8).map(|_| taker())).await.into_iter().flatten().collect();
    let mut taken: Vec<u32> = blocks.iter().flat_map(|(first, count)| *first..first + count).collect();
    taken.sort_unstable();
    assert_eq!(taken, (0..50).collect::<Vec<_>>(), "each sequence once");
    assert_eq!(blocks.iter().filter(|(_, count)| *count != 3).collect::<Vec<_>>(), [&(48, 2)], "the tail");
    assert_eq!(s.take_block(&range, 1).await.unwrap(), None);
    assert_eq!(s.ranges(&m, &period).await.unwrap()[1].next, 50, "used up: last + 1");

    // One taker: whole blocks while they fit, then the tail; a block is at least one.
    assert_eq!(s.take_block(&small, 4).await.unwrap(), Some((100, 4)));
    assert_eq!(s.take_block(&small, 0).await.unwrap(), Some((104, 1)));
    assert_eq!(s.take_block(&small, 4).await.unwrap(), Some((105, 4)));
    assert_eq!(s.take_block(&small, 4).await.unwrap(), Some((109, 1)));
    assert_eq!(s.take_block(&small, 4).await.unwrap(), None);
    assert_eq!(s.take_block(&range_item(&m, &period, "ZZ", 0, 49), 1).await.unwrap(), None, "an unknown range");
}

/// A period's numbers read back together: ranges in key order, skipped numbers once each in
/// number order, the close report recorded once (the first stays); the period lists each
/// merchant with ranges in it once.
pub async fn a_periods_numbers_and_merchants_read_back<S: NumberLedger + ?Sized>(s: &S) {
    let period = unique("p");
    let (m1, m2) = (unique("m"), unique("m"));
    let ua = range_item(&m1, &period, "UA", 100, 149);
    let ab = range_item(&m1, &period, "AB", 0, 49);
    for range in [&ua, &ab, &range_item(&m2, &period, "UA", 0, 49), &ua] {
        s.add_range(range).await.unwrap();
    }
    s.add_range(&range_item(&unique("m"), &unique("p"), "UA", 0, 49)).await.unwrap();
    let mut want = vec![m1.clone(), m2.clone()];
    want.sort();
    assert_eq!(s.period_merchants(&period).await.unwrap(), want);
    assert_eq!(s.period_merchants(&unique("p")).await.unwrap(), Vec::<String>::new());

    assert_eq!(s.take_block(&ua, 10).await.unwrap(), Some((100, 10)));
    for number in ["UA00000105", "UA00000101", "UA00000105"] {
        s.record_skipped_number(&m1, &period, number, "o-1", "order already invoiced by a concurrent delivery", now()).await.unwrap();
    }
    let numbers = s.period_numbers(&m1, &period).await.unwrap();
    assert_eq!(numbers.ranges, [ab.clone(), RangeItem { next: 110, ..ua.clone() }]);
    assert_eq!(numbers.skipped, ["UA00000101", "UA00000105"]);
    assert_eq!(numbers.closed, None);

    let close = |unused: &str| PeriodCloseItem {
        pk: order_keys::ranges(&m1, &period),
        sk: order_keys::CLOSED.into(),
        entity: "period_close".into(),
        merchant_id: m1.clone(),
        period: period.clone(),
        unused: vec![unused.into()],
        unused_count: 40,
        reported_at: now(),
    };
    let first = close("UA00000110-UA00000149");
    assert!(s.record_period_close(&first).await.unwrap());
    assert!(!s.record_period_close(&close("AB00000000-AB00000049")).await.unwrap(), "recorded twice");
    assert_eq!(s.period_numbers(&m1, &period).await.unwrap().closed, Some(first));
    let other = s.period_numbers(&m2, &period).await.unwrap();
    assert_eq!((other.ranges.len(), other.skipped.len(), other.closed), (1, 0, None));
}

/// The issuer's status writes: each moves the version; a status that answers the claim clears
/// it; the reason is set or removed; the due time moves as said (a failed try counted).
pub async fn invoice_status_writes_answer_the_claim_and_move_the_due_time<S: OrderStore + ?Sized>(s: &S) {
    let m = unique("m");
    let order = claimed(&m, "o");
    s.save_order(&order, None).await.unwrap();
    let at = now() + Duration::minutes(1);
    s.set_invoice_status(&m, "o", InvoiceStatus::NoInvoiceNumbers, Some("no_invoice_numbers"), Due::Later { at, failed: true }).await.unwrap();
    let out = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!(
        (out.invoice_status, out.invoice_reason.as_deref(), out.request_pending, out.retries, out.due_at.map(due_stamp), out.version),
        (InvoiceStatus::NoInvoiceNumbers, Some("no_invoice_numbers"), false, 1, Some(due_stamp(at)), 2)
    );
    assert!(out.due_shard.is_some());
    s.set_invoice_status(&m, "o", InvoiceStatus::UploadFailed, None, Due::Keep).await.unwrap();
    let kept = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((kept.invoice_reason, kept.retries, kept.due_at, kept.version), (None, 1, out.due_at, 3));
    s.set_invoice_status(&m, "o", InvoiceStatus::Uploaded, None, Due::Done).await.unwrap();
    let done = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((done.invoice_status, done.retries, done.due_at, done.due_shard, done.version), (InvoiceStatus::Uploaded, 0, None, None, 4));
    // A status that does not answer the claim leaves it pending.
    s.save_order(&claimed(&m, "p"), None).await.unwrap();
    s.set_invoice_status(&m, "p", InvoiceStatus::UploadFailed, None, Due::Keep).await.unwrap();
    assert!(s.order(&m, "p").await.unwrap().unwrap().request_pending);
    // No order: refused, nothing created.
    assert!(is_conflict(s.set_invoice_status(&m, "none", InvoiceStatus::Issued, None, Due::Done).await));
    assert_eq!(s.order(&m, "none").await.unwrap(), None);
}

/// A return is finished only from the version it was decided on: a newer return (a later
/// write) keeps the order's return flag and due time.
pub async fn a_return_finishes_only_from_the_version_seen<S: OrderStore + ?Sized>(s: &S) {
    let m = unique("m");
    let mut order = order_item(&m, "o", 2);
    order.invoice_status = InvoiceStatus::Uploaded;
    order.return_pending = true;
    order.hand_over(order.updated_at);
    s.save_order(&order, None).await.unwrap();
    let stored = s.order(&m, "o").await.unwrap();
    assert!(stored.as_ref().is_some_and(|o| o.return_pending && o.due_at.is_some()));
    s.finish_return(&m, "o", 7).await.unwrap();
    assert_eq!(s.order(&m, "o").await.unwrap(), stored, "decided on another version: unchanged");
    s.finish_return(&m, "o", 1).await.unwrap();
    let done = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((done.return_pending, done.due_at, done.due_shard, done.retries, done.version), (false, None, None, 0, 2));
    s.finish_return(&m, "none", 1).await.unwrap();
    assert_eq!(s.order(&m, "none").await.unwrap(), None);
}

/// An upload is recorded on the invoice and mirrored in the order's status and due time; the
/// same write says whether a return waits for the invoice, and then keeps the order due.
pub async fn an_upload_says_whether_a_return_waits<S: OrderStore + InvoiceStore + ?Sized>(s: &S) {
    let m = unique("m");
    s.save_order(&claimed(&m, "o"), None).await.unwrap();
    let mut invoice = invoice_item(&m, "o", &seller(), "UA00000001");
    s.record_invoice(&invoice).await.unwrap();
    let (t, retry_at) = (now(), now() + Duration::minutes(2));

    invoice.upload = UploadState { status: UploadStatus::Failed, attempts: 1, last_error: Some("503".into()), ..invoice.upload.clone() };
    assert!(!s.record_upload(&invoice, InvoiceStatus::UploadFailed, Due::Later { at: retry_at, failed: true }, t).await.unwrap());
    assert_eq!(s.invoice(&m, "o").await.unwrap().unwrap().upload, invoice.upload);
    let failed = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((failed.invoice_status, failed.retries, failed.due_at.map(due_stamp)), (InvoiceStatus::UploadFailed, 1, Some(due_stamp(retry_at))));

    invoice.upload = UploadState { status: UploadStatus::Uploaded, attempts: 2, last_error: None, uploaded_at: Some(t), ..invoice.upload.clone() };
    assert!(!s.record_upload(&invoice, InvoiceStatus::Uploaded, Due::Done, t).await.unwrap());
    let uploaded = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((uploaded.invoice_status, uploaded.retries, uploaded.due_at), (InvoiceStatus::Uploaded, 0, None));
    assert_eq!(s.invoice(&m, "o").await.unwrap().unwrap().upload, invoice.upload);

    // A cancel arrives (its write sets the return flag): the upload's write says so, and the
    // order stays due, at once after the grace, or when the write said.
    let mut cancelled = next_version(&uploaded);
    cancelled.return_pending = true;
    s.save_order(&cancelled, Some(&uploaded)).await.unwrap();
    assert!(s.record_upload(&invoice, InvoiceStatus::Uploaded, Due::Done, t).await.unwrap());
    let waiting = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!(
        (waiting.invoice_status, waiting.return_pending, waiting.due_at.map(due_stamp)),
        (InvoiceStatus::Uploaded, true, Some(due_stamp(t + HANDOFF_GRACE)))
    );
    assert!(s.record_upload(&invoice, InvoiceStatus::UploadFailed, Due::Later { at: retry_at, failed: true }, t).await.unwrap());
    assert_eq!(s.order(&m, "o").await.unwrap().unwrap().due_at.map(due_stamp), Some(due_stamp(retry_at)));
    // No invoice: refused.
    assert!(s.record_upload(&invoice_item(&m, "none", &seller(), "UA00000002"), InvoiceStatus::Uploaded, Due::Done, t).await.is_err());
}

/// Allowances are appended only at the count the caller read (one of concurrent processors
/// adds it); their statuses are set by position; a void keeps its first time and marks the order.
pub async fn allowances_are_appended_at_the_count_read<S: OrderStore + InvoiceStore + ?Sized>(s: &S) {
    let m = unique("m");
    s.save_order(&claimed(&m, "o"), None).await.unwrap();
    let invoice = invoice_item(&m, "o", &seller(), "UA00000001");
    s.record_invoice(&invoice).await.unwrap();
    assert!(is_conflict(s.add_allowance(&invoice, 1, &allowance(&invoice, 1, 100)).await), "none yet");
    let candidates: Vec<AllowanceItem> = (0..5u32).map(|i| allowance(&invoice, 1, 100 + i)).collect();
    let results = all(candidates.iter().map(|a| s.add_allowance(&invoice, 0, a))).await;
    assert_eq!(ok_count(&results), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || is_conflict(r.clone())), "{results:?}");
    let first = candidates[results.iter().position(Result::is_ok).unwrap()].clone();
    assert_eq!(s.invoice(&m, "o").await.unwrap().unwrap().allowances, [first.clone()]);
    let second = allowance(&invoice, 2, 50);
    s.add_allowance(&invoice, 1, &second).await.unwrap();
    assert!(is_conflict(s.add_allowance(&invoice, 1, &allowance(&invoice, 3, 10)).await));

    s.set_allowance_status(&invoice, 1, AllowanceStatus::Uploaded).await.unwrap();
    s.set_allowance_status(&invoice, 0, AllowanceStatus::Void).await.unwrap();
    let statuses: Vec<AllowanceStatus> = s.invoice(&m, "o").await.unwrap().unwrap().allowances.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [AllowanceStatus::Void, AllowanceStatus::Uploaded]);
    assert!(s.set_allowance_status(&invoice, 5, AllowanceStatus::Void).await.is_err(), "no allowance 5");

    let before = s.order(&m, "o").await.unwrap().unwrap();
    let at = now();
    s.record_void(&invoice, at).await.unwrap();
    s.record_void(&invoice, at + Duration::minutes(5)).await.unwrap();
    assert_eq!(s.invoice(&m, "o").await.unwrap().unwrap().voided_at, Some(at), "the first void's time stays");
    let void = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((void.invoice_status, void.version, void.due_at), (InvoiceStatus::Void, before.version + 2, before.due_at));

    let missing = invoice_item(&m, "none", &seller(), "UA00000009");
    assert!(is_conflict(s.add_allowance(&missing, 0, &allowance(&missing, 1, 10)).await));
    assert!(is_conflict(s.record_void(&missing, at).await));
    assert_eq!(s.invoice(&m, "none").await.unwrap(), None);
}

/// The due index lists only what is due, earliest first, at most as many as asked, and says
/// when more are due. Its due times are years in the past, before any other check's.
pub async fn the_due_index_lists_what_is_due_earliest_first<S: OrderStore + DueIndex + ?Sized>(s: &S) {
    let m = unique("m");
    let base = DateTime::parse_from_rfc3339("2001-02-03T04:05:06Z").unwrap().to_utc() + Duration::minutes(i64::from(uuid::Uuid::new_v4().as_bytes()[0]));
    let at = |minutes: i64| base + Duration::minutes(minutes);
    for id in ["a", "b", "c", "d", "e", "f"] {
        s.save_order(&order_item(&m, id, 2), None).await.unwrap();
    }
    s.set_invoice_status(&m, "a", InvoiceStatus::Issued, None, Due::Later { at: at(5), failed: false }).await.unwrap();
    s.set_invoice_status(&m, "b", InvoiceStatus::UploadFailed, None, Due::Later { at: at(1), failed: true }).await.unwrap();
    s.defer(&m, "c", at(3)).await.unwrap();
    s.defer(&m, "d", at(2)).await.unwrap();
    s.set_invoice_status(&m, "d", InvoiceStatus::Uploaded, None, Due::Done).await.unwrap();
    s.defer(&m, "e", at(10)).await.unwrap();
    let listed = |due: &[crate::store::orders::DueOrder]| due.iter().map(|d| (d.order_id.clone(), d.due_at.clone(), d.retries)).collect::<Vec<_>>();
    let want = |ids: &[(&str, i64, u32)]| ids.iter().map(|(id, minutes, retries)| ((*id).to_owned(), due_stamp(at(*minutes)), *retries)).collect::<Vec<_>>();

    let (due, more) = s.due_orders(at(6), 10).await.unwrap();
    assert_eq!((listed(&due), more), (want(&[("b", 1, 1), ("c", 3, 1), ("a", 5, 0)]), false));
    assert_eq!(
        due.iter().map(|d| (d.merchant_id.as_str(), d.invoice_status)).collect::<Vec<_>>(),
        [(m.as_str(), InvoiceStatus::UploadFailed), (m.as_str(), InvoiceStatus::Waiting), (m.as_str(), InvoiceStatus::Issued)]
    );
    let (due, more) = s.due_orders(at(6), 2).await.unwrap();
    assert_eq!((listed(&due), more), (want(&[("b", 1, 1), ("c", 3, 1)]), true));
    let (due, more) = s.due_orders(at(6), 1).await.unwrap();
    assert_eq!((listed(&due), more), (want(&[("b", 1, 1)]), true));
    assert!(s.due_orders(at(0), 10).await.unwrap().0.is_empty(), "nothing due yet");
    let (due, _) = s.due_orders(at(10), 10).await.unwrap();
    assert_eq!(listed(&due), want(&[("b", 1, 1), ("c", 3, 1), ("a", 5, 0), ("e", 10, 1)]), "due at `now` is due");
}

/// The reconciler settles an order's due time only if it is still the one it read; later
/// failures move it later and count; an order that does not exist is not created.
pub async fn settle_due_removes_only_the_due_time_it_read<S: OrderStore + DueIndex + ?Sized>(s: &S) {
    let m = unique("m");
    s.save_order(&order_item(&m, "o", 2), None).await.unwrap();
    let (first, second) = (now() + Duration::minutes(1), now() + Duration::minutes(3));
    s.defer(&m, "o", first).await.unwrap();
    let seen = due_stamp(first);
    let deferred = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((deferred.due_at.map(due_stamp), deferred.retries, deferred.version), (Some(seen.clone()), 1, 2));
    s.defer(&m, "o", second).await.unwrap();
    assert!(!s.settle_due(&m, "o", &seen).await.unwrap(), "a newer due time was set");
    let moved = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((moved.due_at.map(due_stamp), moved.retries, moved.version), (Some(due_stamp(second)), 2, 3));
    assert!(s.settle_due(&m, "o", &due_stamp(second)).await.unwrap());
    let settled = s.order(&m, "o").await.unwrap().unwrap();
    assert_eq!((settled.due_at, settled.due_shard, settled.retries, settled.version), (None, None, 0, 4));
    assert!(!s.settle_due(&m, "o", &due_stamp(second)).await.unwrap(), "settled once");
    assert!(is_conflict(s.defer(&m, "none", first).await));
    assert!(!s.settle_due(&m, "none", &seen).await.unwrap());
    assert_eq!(s.order(&m, "none").await.unwrap(), None);
    let listed: BTreeSet<String> =
        s.due_orders(second + Duration::hours(1), 1000).await.unwrap().0.into_iter().filter(|d| d.merchant_id == m).map(|d| d.order_id).collect();
    assert!(listed.is_empty(), "settled orders are not due: {listed:?}");
}
