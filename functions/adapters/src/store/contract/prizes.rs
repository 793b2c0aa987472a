//! The contract of [`PrizeStore`]: the `prize` map of winning invoices. Races run as
//! concurrent calls on one store, as in `orders.rs`.

use chrono::Duration;
use einvoice_domain::buyer::MEMBER_CARRIER_TYPE;
use einvoice_domain::{Claimant, PrizeKind};

use super::orders::{all, claimed, invoice_item, seller};
use super::{is_conflict, now, unique};
use crate::store::orders::{InvoiceItem, OrderWrite};
use crate::store::prizes::{PrizeItem, PrizeListItem, PrizeMarked, PrizeStamp};
use crate::store::{InvoiceStore, OrderStore, PrizeStore, StoreError};

/// A B2C invoice on the platform's member carrier, recorded for a new order of a new merchant.
async fn member_invoice<S: OrderStore + InvoiceStore + ?Sized>(s: &S, ubn: &str, number: &str) -> InvoiceItem {
    let m = unique("m");
    assert_eq!(s.save_order(&claimed(&m, "o1"), None).await.unwrap(), OrderWrite::Saved);
    let invoice = InvoiceItem {
        carrier_type: Some(MEMBER_CARRIER_TYPE.into()),
        carrier_id: Some("member#42".into()),
        print: false,
        ..invoice_item(&m, "o1", ubn, number)
    };
    s.record_invoice(&invoice).await.unwrap();
    s.invoice(&m, "o1").await.unwrap().expect("recorded")
}

/// The invoice is found by its seller and number; marking it stores the prize as marked
/// (nothing recorded yet, its claimant decided); marking the same prize again changes nothing
/// and says so, a different prize is `Conflict`; an unknown invoice is not marked.
pub async fn a_winner_is_found_by_its_number_and_marked_once<S: OrderStore + InvoiceStore + PrizeStore + ?Sized>(s: &S) {
    let ubn = seller();
    let invoice = member_invoice(s, &ubn, "WA00000007").await;
    let (m, o) = (invoice.merchant_id.clone(), invoice.order_id.clone());
    assert_eq!(s.invoice_by_number(&ubn, "WA00000007").await.unwrap(), Some(invoice.clone()));
    assert_eq!(s.invoice_by_number(&ubn, "WA00000008").await.unwrap(), None);
    assert_eq!(s.invoice_by_number(&seller(), "WA00000007").await.unwrap(), None, "numbers are the seller's");

    // What a caller passes beyond the prize is not written.
    let prize =
        PrizeItem { notified_at: Some(now()), printed_at: Some(now()), printed_by: Some("x".into()), ..PrizeItem::new(&invoice, PrizeKind::Sixth, 200, now()) };
    assert_eq!(prize.claimant, Claimant::Seller);
    let marked = PrizeItem { notified_at: None, printed_at: None, printed_by: None, ..prize.clone() };
    assert_eq!(s.mark_prize(&m, &o, &prize).await.unwrap(), PrizeMarked::Marked(marked.clone()));
    let stored = s.invoice(&m, &o).await.unwrap().unwrap();
    assert_eq!(stored.prize.as_ref(), Some(&marked));
    assert_eq!(InvoiceItem { prize: None, ..stored.clone() }, invoice, "nothing else on the invoice changed");
    assert_eq!(s.invoice_by_number(&ubn, "WA00000007").await.unwrap().and_then(|i| i.prize), Some(marked.clone()));

    // Again, later (another run of the job): unchanged, the first mark stays.
    s.record_prize_notified(&m, &o, now()).await.unwrap();
    let notified = s.invoice(&m, &o).await.unwrap().unwrap().prize.unwrap();
    let again = PrizeItem { marked_at: now() + Duration::hours(24), ..marked.clone() };
    assert_eq!(s.mark_prize(&m, &o, &again).await.unwrap(), PrizeMarked::Unchanged(notified.clone()));
    assert_eq!(s.invoice(&m, &o).await.unwrap().unwrap().prize, Some(notified));
    let other = PrizeItem { kind: PrizeKind::Fifth, amount: 1000, ..marked.clone() };
    assert!(is_conflict(s.mark_prize(&m, &o, &other).await), "a different prize for the same invoice");
    let other_amount = PrizeItem { amount: 500, ..marked.clone() };
    assert!(is_conflict(s.mark_prize(&m, &o, &other_amount).await));
    assert_eq!(s.mark_prize(&m, "no-such-order", &marked).await.unwrap(), PrizeMarked::NoInvoice);
    assert_eq!(s.invoice(&m, "no-such-order").await.unwrap(), None, "nothing was created");
}

/// `notified_at` is recorded once: the first call says so, later ones give the first time; an
/// invoice without a prize (or none at all) is not a winner.
pub async fn a_prize_is_notified_once<S: OrderStore + InvoiceStore + PrizeStore + ?Sized>(s: &S) {
    let invoice = member_invoice(s, &seller(), "WB00000001").await;
    let (m, o) = (invoice.merchant_id.clone(), invoice.order_id.clone());
    let first = now();
    assert_eq!(s.record_prize_notified(&m, &o, first).await.unwrap(), PrizeStamp::NotAWinner, "not marked yet");
    assert_eq!(s.invoice(&m, &o).await.unwrap().unwrap().prize, None, "no prize was made up");
    s.mark_prize(&m, &o, &PrizeItem::new(&invoice, PrizeKind::First, 200_000, first)).await.unwrap();
    assert_eq!(s.record_prize_notified(&m, &o, first).await.unwrap(), PrizeStamp::Recorded(first));
    let later = first + Duration::minutes(5);
    assert_eq!(s.record_prize_notified(&m, &o, later).await.unwrap(), PrizeStamp::AlreadyRecorded(first));
    let prize = s.invoice(&m, &o).await.unwrap().unwrap().prize.unwrap();
    assert_eq!((prize.notified_at, prize.printed_at), (Some(first), None));
    assert_eq!(s.record_prize_notified(&m, "no-such-order", first).await.unwrap(), PrizeStamp::NotAWinner);
}

/// The winning proof prints once: the first request records `printed_at`; a repeat of that
/// request is answered as printed at the same time; any other request learns it was printed
/// already, and when. A non-winner is not printed.
pub async fn a_winning_proof_prints_once_for_one_request<S: OrderStore + InvoiceStore + PrizeStore + ?Sized>(s: &S) {
    let invoice = member_invoice(s, &seller(), "WC00000001").await;
    let (m, o) = (invoice.merchant_id.clone(), invoice.order_id.clone());
    let at = now();
    assert_eq!(s.record_prize_printed(&m, &o, "key-1", at).await.unwrap(), PrizeStamp::NotAWinner);
    s.mark_prize(&m, &o, &PrizeItem::new(&invoice, PrizeKind::Second, 40_000, at)).await.unwrap();
    assert_eq!(s.record_prize_printed(&m, &o, "key-1", at).await.unwrap(), PrizeStamp::Recorded(at));
    let later = at + Duration::minutes(1);
    assert_eq!(s.record_prize_printed(&m, &o, "key-1", later).await.unwrap(), PrizeStamp::Recorded(at), "the same request again");
    assert_eq!(s.record_prize_printed(&m, &o, "key-2", later).await.unwrap(), PrizeStamp::AlreadyRecorded(at));
    let prize = s.invoice(&m, &o).await.unwrap().unwrap().prize.unwrap();
    assert_eq!((prize.printed_at, prize.printed_by.as_deref(), prize.notified_at), (Some(at), Some("key-1"), None));
    // Marking the prize again does not undo the print.
    assert!(
        matches!(s.mark_prize(&m, &o, &PrizeItem::new(&invoice, PrizeKind::Second, 40_000, later)).await.unwrap(), PrizeMarked::Unchanged(p) if p.printed_at == Some(at))
    );
    assert_eq!(s.record_prize_printed(&m, "no-such-order", "key-3", at).await.unwrap(), PrizeStamp::NotAWinner);
}

/// Eight requests print at once: exactly one records the print, the others learn it was
/// printed at that one's time.
pub async fn of_concurrent_prints_exactly_one_wins<S: OrderStore + InvoiceStore + PrizeStore + ?Sized>(s: &S) {
    let invoice = member_invoice(s, &seller(), "WD00000001").await;
    let (m, o) = (invoice.merchant_id.clone(), invoice.order_id.clone());
    s.mark_prize(&m, &o, &PrizeItem::new(&invoice, PrizeKind::Cloud, 500, now())).await.unwrap();
    let requests: Vec<(String, chrono::DateTime<chrono::Utc>)> = (0..8).map(|i| (format!("key-{i}"), now() + Duration::milliseconds(i))).collect();
    let results: Vec<Result<PrizeStamp, StoreError>> = all(requests.iter().map(|(key, at)| s.record_prize_printed(&m, &o, key, *at))).await;
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| matches!(r, Ok(PrizeStamp::Recorded(_)))).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let printed_at = requests[winners[0]].1;
    for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
        assert!(matches!(r, Ok(PrizeStamp::AlreadyRecorded(at)) if *at == printed_at), "request {i}: {r:?}");
    }
    let prize = s.invoice(&m, &o).await.unwrap().unwrap().prize.unwrap();
    assert_eq!((prize.printed_at, prize.printed_by), (Some(printed_at), Some(requests[winners[0]].0.clone())));
}

/// A handled list reads back; recording it again (an overlapping run) keeps the first record.
pub async fn a_handled_prize_list_is_recorded_once<S: PrizeStore + ?Sized>(s: &S) {
    let m = unique("m");
    assert_eq!(s.prize_list(&m, "11510").await.unwrap(), None);
    let first = PrizeListItem::new(&m, "11510", vec!["WA00000007".into()], now());
    s.record_prize_list(&first).await.unwrap();
    let again = PrizeListItem::new(&m, "11510", vec![], now() + Duration::hours(1));
    s.record_prize_list(&again).await.unwrap();
    assert_eq!(s.prize_list(&m, "11510").await.unwrap(), Some(first));
    assert_eq!(s.prize_list(&m, "11508").await.unwrap(), None, "per period");
}
