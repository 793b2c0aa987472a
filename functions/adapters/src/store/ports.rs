//! The ports: one trait per capability the functions need from the table. The DynamoDB
//! adapter ([`super::Store`]) and the in-memory one (`memory::MemoryStore`, feature `testing`)
//! implement each with the same conditional semantics, and one contract suite
//! (`contract`, run against moto by `tests/tests/store_moto.rs` and against memory by the
//! adapters' unit tests) holds them to it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use std::collections::HashSet;

use super::orders::{
    AllowanceItem, AllowanceStatus, Due, DueOrder, InvoiceItem, InvoiceStatus, IssueContext, OrderHead, OrderItem, OrderWrite, PeriodCloseItem, PeriodNumbers,
    RangeItem, WebhookContext,
};
use super::prizes::{PrizeItem, PrizeListItem, PrizeMarked, PrizeStamp};
use super::{Claim, ExpiringPlans, IdempotencyItem, MerchantItems, NoticeItem, PlanItem, PlanOrderItem, StoreError};
use crate::mail::{MailClaim, MailItem};
use crate::settings::SettingsItem;

/// The merchant's plan (方案), its purchase and renewal orders (購買 / 續購) and the notices of
/// the plan view.
#[async_trait]
pub trait PlanStore: Send + Sync {
    async fn plan(&self, merchant_id: &str) -> Result<Option<PlanItem>, StoreError>;

    async fn plan_order(&self, merchant_id: &str, order_id: &str) -> Result<Option<PlanOrderItem>, StoreError>;

    /// Which merchant a plan order belongs to (the payment callback knows only the order id).
    async fn plan_order_merchant(&self, order_id: &str) -> Result<Option<String>, StoreError>;

    /// The plan, its orders (by id: checkout orders are time-ordered UUID v7s; auto-renewal
    /// orders, derived from their charge, sort among them by hash), the invoice settings and
    /// the notices (by time), in one read of the merchant's partition.
    async fn merchant_items(&self, merchant_id: &str) -> Result<MerchantItems, StoreError>;

    /// Creates a plan order and its order-id pointer, and completes the idempotency record
    /// `completes = (pk, status, body)` with the response, all or nothing. `Conflict` when the
    /// order exists or the record is not this order's `in_progress` claim.
    async fn create_plan_order(&self, order: &PlanOrderItem, completes: Option<(&str, u16, &str)>) -> Result<(), StoreError>;

    /// Applies a payment, all or nothing: the order becomes paid (only from `pending_payment`
    /// or `failed`), the plan is replaced (only if nobody changed it since `plan.version - 1`
    /// was read; version 1: no plan existed), and a notice is added. `Conflict` when either
    /// condition fails.
    async fn apply_payment(&self, paid_order: &PlanOrderItem, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError>;

    /// Writes the plan (auto-renew settings, card, renewal bookkeeping), with a notice for the
    /// plan view if given; `Conflict` when the plan changed since it was read.
    async fn put_plan(&self, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError>;

    /// Records a renewal the job charged: a new paid order (its id derived from the charge's
    /// idempotency key, so it is recorded once) and the extended plan, together.
    async fn record_renewal(&self, order: &PlanOrderItem, plan: &PlanItem) -> Result<(), StoreError>;

    /// Plans whose `expires_on` is one of the days `from..=to` (the `by-expiry` index), and
    /// what reading them cost.
    async fn plans_expiring(&self, from: NaiveDate, to: NaiveDate) -> Result<ExpiringPlans, StoreError>;

    /// `pending_payment` → `failed`; false when the order was no longer pending (or is unknown).
    async fn fail_plan_order(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Takes the lease on a paid order's outstanding side effects until `until`, so that of
    /// many concurrent callbacks exactly one performs them. False when nothing is pending or
    /// another request holds an unexpired lease.
    async fn lease_order_effects(&self, merchant_id: &str, order_id: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Marks outbox flags of a plan order done (`pending_onboarding`, `pending_notification`);
    /// with `release`, also gives up the effects lease.
    async fn clear_order_flags(&self, merchant_id: &str, order_id: &str, flags: &[&str], release: bool) -> Result<(), StoreError>;
}

/// `Idempotency-Key` records: the first request's outcome, replayed to its repeats.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes an idempotency key, or returns the record someone else already holds for it.
    async fn claim_idempotency(&self, record: &IdempotencyItem) -> Result<Claim, StoreError>;

    async fn idempotency(&self, pk: &str) -> Result<Option<IdempotencyItem>, StoreError>;

    /// Drops a claim still `in_progress` (its request failed before creating anything), so the
    /// client may retry with the same key; a completed record stays.
    async fn release_idempotency(&self, pk: &str) -> Result<(), StoreError>;
}

/// The merchant's invoice settings and sealed Wixtar credentials (串接).
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self, merchant_id: &str) -> Result<Option<SettingsItem>, StoreError>;

    /// Writes settings whose `version` is one more than the version read (`version` 1: none
    /// was stored). `Conflict` when someone saved in between.
    async fn put_settings(&self, item: &SettingsItem) -> Result<(), StoreError>;
}

/// The send ledger of e-mails (通知信): one mail per event id, however often it is delivered.
#[async_trait]
pub trait MailLedger: Send + Sync {
    /// Claims the mail of `record.event_id`: succeeds when no record exists, or the existing
    /// one is not `sent` and its lease ran out (a crashed or failed attempt); `attempts` counts
    /// the claims taken, `created_at` stays the first's.
    async fn claim_mail(&self, record: &MailItem, now: DateTime<Utc>) -> Result<MailClaim, StoreError>;

    /// The claimed mail was accepted: `sent`, with its message id; the lease is dropped.
    async fn mail_sent(&self, event_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The claimed mail could not be sent: `failed` with the reason, lease dropped, so the next
    /// delivery of the event claims it at once. Never overwrites a `sent` record.
    async fn mail_failed(&self, event_id: &str, error: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The send record of one event.
    async fn mail_record(&self, event_id: &str) -> Result<Option<MailItem>, StoreError>;
}

/// Shop orders (訂單) as the webhooks merged them, with the decision about their invoice, and
/// the reads that bring an order together with what its handler needs (docs/table-layout.md
/// §3.7, §3.7a, §6.6). Every read gives the order whole: a large order's lines, stored apart
/// once per content (`lines_key`), are put back.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// The order with its lines (a large order's from their own item: a second read).
    async fn order(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderItem>, StoreError>;

    /// The order's invoice status, without its merged state (one read, never the lines).
    async fn order_head(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderHead>, StoreError>;

    /// The order, the merchant's settings and plan, in one round trip. `event` is the order the
    /// webhook brings: when a large order's stored lines are the event's lines, the event's are
    /// used; other stored lines are read from their item (a second read, only when the order's
    /// lines change). Either way the order is the stored one.
    async fn webhook_context(&self, merchant_id: &str, order_id: &str, event: &einvoice_domain::Order) -> Result<WebhookContext, StoreError>;

    /// The order (whole) and its invoice, in one round trip (and a large order's lines).
    async fn order_and_invoice(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderItem>, Option<InvoiceItem>), StoreError>;

    /// What the invoice view shows: the order's invoice status and its invoice, in one round
    /// trip (never a large order's lines: the invoice has its own).
    async fn invoice_view_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>), StoreError>;

    /// What the invoice proof (證明聯) prints: the order's invoice status, its invoice and the
    /// merchant's plan (the seller's company name), in one round trip.
    async fn proof_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>, Option<PlanItem>), StoreError>;

    /// The order, its invoice and the merchant's settings, in one round trip.
    async fn issue_context(&self, merchant_id: &str, order_id: &str) -> Result<IssueContext, StoreError>;

    /// Writes the order a webhook merged, in one conditional write: its `version` is one more
    /// than what was read (1: nothing was). The item carries the event's id (deduplication)
    /// and the claim with its due time, so applying an event is one write (whose stream record
    /// hands a claim to the invoice-issuer). A large order's lines go to their own item first
    /// (`lines_key`), only when `previous` (the order as read) did not have these lines: a
    /// webhook that does not change the lines rewrites only the small order item.
    ///
    /// When another write came first, nothing is written and the answer carries the order as it
    /// is now: [`OrderWrite::Stale`] with it, so the caller merges again without reading
    /// (`Stale(None)` when there is no order, or the adapter could not say).
    async fn save_order(&self, order: &OrderItem, previous: Option<&OrderItem>) -> Result<OrderWrite, StoreError>;

    /// The return the order asked for is done (issuer side, the invoice uploaded):
    /// `return_pending` goes and the order leaves the due index, unless the order changed since
    /// `seen_version` (a newer cancel or refund, handed over by its own write): then nothing
    /// changes, which is not an error.
    async fn finish_return(&self, merchant_id: &str, order_id: &str, seen_version: u64) -> Result<(), StoreError>;

    /// Sets the order's invoice status (issuer side) with its reason (`None` removes it) and its
    /// due time as `due` says, bumping its version so a webhook that read it before writes again
    /// on fresh data. A status that answers the claim (`issued`, `not_issuable`,
    /// `no_invoice_numbers`) clears `request_pending`. `Conflict` when there is no such order.
    async fn set_invoice_status(&self, merchant_id: &str, order_id: &str, status: InvoiceStatus, reason: Option<&str>, due: Due) -> Result<(), StoreError>;
}

/// The one e-invoice (電子發票) of an order, its upload, allowances (折讓) and void (作廢), and
/// the number guards that keep a number on one invoice (docs/table-layout.md §3.8–3.9,
/// §6.9–6.11).
#[async_trait]
pub trait InvoiceStore: Send + Sync {
    async fn invoice(&self, merchant_id: &str, order_id: &str) -> Result<Option<InvoiceItem>, StoreError>;

    /// Records the invoice, its number guard and the order's `issued` status (claim answered,
    /// due `issued_at` + the hand-off grace for the upload), all or nothing. `Conflict` when the
    /// order already has an invoice or the seller's number is taken; another error (nothing
    /// written) when the order does not exist.
    async fn record_invoice(&self, invoice: &InvoiceItem) -> Result<(), StoreError>;

    /// Appends an allowance, expecting `known` allowances (so concurrent processors cannot
    /// both add one); `Conflict` otherwise, or when there is no such invoice.
    async fn add_allowance(&self, invoice: &InvoiceItem, known: usize, allowance: &AllowanceItem) -> Result<(), StoreError>;

    /// Sets allowance `index`'s status (`uploaded`, `void`), unconditionally; an error when the
    /// invoice has no allowance `index`.
    async fn set_allowance_status(&self, invoice: &InvoiceItem, index: usize, status: AllowanceStatus) -> Result<(), StoreError>;

    /// Records the void of an invoice (`voided_at`: the first time recorded stays) and the
    /// order's `void` status, together. `Conflict` when the invoice or the order is missing.
    async fn record_void(&self, invoice: &InvoiceItem, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Writes the invoice's upload state and mirrors it in the order's invoice status, with the
    /// order's due time as `due` says; `true` when the order has a return (cancel, refund)
    /// waiting for this invoice, which the same write finds out (no extra read on the happy
    /// path). The return keeps the order due (at `now` + the hand-off grace at the latest).
    async fn record_upload(&self, invoice: &InvoiceItem, order_status: InvoiceStatus, due: Due, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// The number ledger: 字軌 ranges with their counters, numbers taken and not used, the period
/// registry and the unused-number report after a period (docs/table-layout.md §3.10–3.13,
/// §6.8, §6.12).
#[async_trait]
pub trait NumberLedger: Send + Sync {
    /// The ranges known for a merchant and period, in key order (track, then first number).
    async fn ranges(&self, merchant_id: &str, period: &str) -> Result<Vec<RangeItem>, StoreError>;

    /// Stores a range the provider assigned; `false` if it was stored already. The merchant is
    /// first listed under the period, for the period-close job.
    async fn add_range(&self, range: &RangeItem) -> Result<bool, StoreError>;

    /// Leases up to `wanted` consecutive sequences of `range` with an atomic take from its
    /// counter: `Some((first, count))`, `count < wanted` only when the range had fewer left
    /// (then the whole tail); `None` when it is used up (or unknown). However many take at
    /// once, no sequence is handed out twice.
    async fn take_block(&self, range: &RangeItem, wanted: u32) -> Result<Option<(u32, u32)>, StoreError>;

    /// Which of `numbers` carry an invoice of `seller_ubn` (their number guard exists).
    async fn numbers_in_use(&self, seller_ubn: &str, numbers: &[String]) -> Result<HashSet<String>, StoreError>;

    /// Records why an allocated number went unused (reported at period close).
    async fn record_skipped_number(
        &self,
        merchant_id: &str,
        period: &str,
        number: &str,
        order_id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Merchants that had ranges in `period`, each once, in id order.
    async fn period_merchants(&self, period: &str) -> Result<Vec<String>, StoreError>;

    /// Everything about a merchant's numbers of one period, in one read: the ranges (key
    /// order), the skipped numbers (in number order) and the close report.
    async fn period_numbers(&self, merchant_id: &str, period: &str) -> Result<PeriodNumbers, StoreError>;

    /// Records the close report once; `false` if it was recorded already (the first stays).
    async fn record_period_close(&self, close: &PeriodCloseItem) -> Result<bool, StoreError>;
}

/// When each order's unfinished invoice work is next due: the sparse `by-due` index the
/// invoice-reconciler reads (docs/table-layout.md §4.2, §6.13).
#[async_trait]
pub trait DueIndex: Send + Sync {
    /// Work on the order failed and nothing else recorded when to try again: the reconciler
    /// takes it up at `at` (one more failed try counted). The version moves, so a webhook
    /// holding an older copy cannot write the old due time back. `Conflict` when there is no
    /// such order.
    async fn defer(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The reconciler found the order's work done: it leaves the due index (version moved),
    /// unless its due time is no longer `seen` (a newer one was set meanwhile). `false` when it
    /// was not removed (already out, or newer).
    async fn settle_due(&self, merchant_id: &str, order_id: &str, seen: &str) -> Result<bool, StoreError>;

    /// Orders whose invoice work is due at `now`, earliest first, at most `limit`; `true` when
    /// more may be due than returned (always when more are). Reads only due entries.
    async fn due_orders(&self, now: DateTime<Utc>, limit: usize) -> Result<(Vec<DueOrder>, bool), StoreError>;
}

/// 中獎: the `prize` map on winning invoices (docs/table-layout.md §3.8, §6.14). Every write
/// is one conditional update of the invoice item.
#[async_trait]
pub trait PrizeStore: Send + Sync {
    /// The invoice of `seller_ubn` that holds `number`, through its number guard
    /// (`INVOICENO#{seller_ubn}#{number}` / `REF`, which names the merchant and order): two
    /// reads. `None` when the seller issued no invoice with that number here.
    async fn invoice_by_number(&self, seller_ubn: &str, number: &str) -> Result<Option<InvoiceItem>, StoreError>;

    /// Marks the invoice a winner with `prize` (as marked: `notified_at`, `printed_at` and
    /// `printed_by` are not written), only if it has no prize yet. Marking the same prize again
    /// ([`PrizeItem::same_prize`]) changes nothing and answers [`PrizeMarked::Unchanged`] with
    /// the stored one; a different prize is `Conflict`.
    async fn mark_prize(&self, merchant_id: &str, order_id: &str, prize: &PrizeItem) -> Result<PrizeMarked, StoreError>;

    /// Records that the winner was told (`prize.notified_at`), only once: `Recorded(at)` for
    /// the first call, `AlreadyRecorded(first)` after.
    async fn record_prize_notified(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<PrizeStamp, StoreError>;

    /// Records the print of the winning proof (`prize.printed_at`, `printed_by` = `request`),
    /// the conditional write that allows exactly one print: of concurrent callers one gets
    /// `Recorded(at)`, the others `AlreadyRecorded(printed_at)`; a later call of the same
    /// `request` gets `Recorded(printed_at)` again (it may render the same document).
    async fn record_prize_printed(&self, merchant_id: &str, order_id: &str, request: &str, at: DateTime<Utc>) -> Result<PrizeStamp, StoreError>;

    /// The merchant's handled list of winners of `period`, if the prize job finished it.
    async fn prize_list(&self, merchant_id: &str, period: &str) -> Result<Option<PrizeListItem>, StoreError>;

    /// Records the list as handled; the first record stays (a repeat changes nothing).
    async fn record_prize_list(&self, list: &PrizeListItem) -> Result<(), StoreError>;
}
