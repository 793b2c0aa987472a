//! The order-side ports in memory: orders with a large order's lines apart, invoices with
//! their number guards, the number ledger and the due index. The conditions are those of
//! `dynamodb/` as Rust: versions, conditional puts, transactions all or nothing (every
//! condition is checked before anything is written), the counter's atomic take.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use einvoice_domain::recovery::HANDOFF_GRACE;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{MemoryStore, Tables, conflict_unless, version_holds};
use crate::store::contract::OrderLinesProbe;
use crate::store::dynamodb::{from_item, to_item};
use crate::store::orders::{
    AllowanceItem, AllowanceStatus, Due, DueOrder, InvoiceItem, InvoiceStatus, IssueContext, OrderHead, OrderItem, OrderWrite, PeriodCloseItem, PeriodNumbers,
    RangeItem, WebhookContext, due_shard, due_stamp, lines_key, order_keys,
};
use crate::store::{DueIndex, InvoiceStore, NumberLedger, OrderStore, PlanItem, StoreError};

type OrderKey = (String, String);

fn order_key(merchant_id: &str, order_id: &str) -> OrderKey {
    (merchant_id.to_owned(), order_id.to_owned())
}

/// A whole item as the DynamoDB adapter writes it and reads it back (`serde_dynamo` both ways).
pub(super) fn as_stored<T: Serialize + DeserializeOwned>(item: &T) -> Result<T, StoreError> {
    from_item(to_item(item))
}

/// A transaction DynamoDB cancels for a reason other than a failed condition of ours.
fn cancelled(why: &str) -> StoreError {
    StoreError::Dynamo(format!("transaction cancelled: {why}"))
}

/// What a status update does with `invoice_reason`.
enum Reason<'a> {
    Keep,
    Set(&'a str),
    Clear,
}

/// The order's due time moved as `due` says (whole seconds, as the index sorts it).
fn move_due(order: &mut OrderItem, due: Due) {
    match due {
        Due::Keep => {}
        Due::Later { at, failed } => {
            order.due_at = Some(at.trunc_subsecs(0));
            order.due_shard = Some(due_shard(&order.merchant_id, &order.order_id));
            if failed {
                order.retries += 1;
            }
        }
        Due::Done => leave_due_index(order),
    }
}

fn leave_due_index(order: &mut OrderItem) {
    (order.due_at, order.due_shard, order.retries) = (None, None, 0);
}

/// The order's invoice status set, its version moved; a status that answers the claim clears it.
fn set_status(order: &mut OrderItem, status: InvoiceStatus, reason: Reason, due: Due) {
    order.invoice_status = status;
    order.version += 1;
    match reason {
        Reason::Keep => {}
        Reason::Set(r) => order.invoice_reason = Some(r.to_owned()),
        Reason::Clear => order.invoice_reason = None,
    }
    if status.answers_request() {
        order.request_pending = false;
    }
    move_due(order, due);
}

impl Tables {
    /// The order as read: whole, a large order's lines from their own item.
    fn whole_order(&self, stored: &OrderItem) -> Result<OrderItem, StoreError> {
        let mut order = stored.clone();
        if let Some(key) = &order.lines_key {
            let (lines, _) = self
                .order_lines
                .get(&(order.pk.clone(), key.clone()))
                .ok_or_else(|| StoreError::Corrupt(format!("order {} names its lines {key}, which are not stored", order.pk)))?;
            order.state.order.lines.clone_from(lines);
        }
        Ok(order)
    }

    fn order(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderItem>, StoreError> {
        self.orders.get(&order_key(merchant_id, order_id)).map(|o| self.whole_order(o)).transpose()
    }

    fn head(&self, merchant_id: &str, order_id: &str) -> Option<OrderHead> {
        self.orders.get(&order_key(merchant_id, order_id)).map(OrderItem::head)
    }

    fn invoice(&self, merchant_id: &str, order_id: &str) -> Option<InvoiceItem> {
        self.invoices.get(&order_key(merchant_id, order_id)).cloned()
    }

    /// A merchant's ranges of a period, in key order.
    fn ranges_of(&self, merchant_id: &str, period: &str) -> Vec<RangeItem> {
        let pk = order_keys::ranges(merchant_id, period);
        self.ranges.range((pk.clone(), String::new())..).take_while(|((k, _), _)| *k == pk).map(|(_, r)| r.clone()).collect()
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn order(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderItem>, StoreError> {
        self.enter().await?.order(merchant_id, order_id)
    }

    async fn order_head(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderHead>, StoreError> {
        Ok(self.enter().await?.head(merchant_id, order_id))
    }

    async fn webhook_context(&self, merchant_id: &str, order_id: &str, _event: &einvoice_domain::Order) -> Result<WebhookContext, StoreError> {
        let t = self.enter().await?;
        Ok(WebhookContext { order: t.order(merchant_id, order_id)?, settings: t.settings.get(merchant_id).cloned(), plan: t.plans.get(merchant_id).cloned() })
    }

    async fn order_and_invoice(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderItem>, Option<InvoiceItem>), StoreError> {
        let t = self.enter().await?;
        Ok((t.order(merchant_id, order_id)?, t.invoice(merchant_id, order_id)))
    }

    async fn invoice_view_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>), StoreError> {
        let t = self.enter().await?;
        Ok((t.head(merchant_id, order_id), t.invoice(merchant_id, order_id)))
    }

    async fn proof_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>, Option<PlanItem>), StoreError> {
        let t = self.enter().await?;
        Ok((t.head(merchant_id, order_id), t.invoice(merchant_id, order_id), t.plans.get(merchant_id).cloned()))
    }

    async fn issue_context(&self, merchant_id: &str, order_id: &str) -> Result<IssueContext, StoreError> {
        let t = self.enter().await?;
        Ok(IssueContext { order: t.order(merchant_id, order_id)?, invoice: t.invoice(merchant_id, order_id), settings: t.settings.get(merchant_id).cloned() })
    }

    async fn save_order(&self, order: &OrderItem, previous: Option<&OrderItem>) -> Result<OrderWrite, StoreError> {
        let mut t = self.enter().await?;
        let mut item = as_stored(order)?;
        item.lines_key = lines_key(&order.state.order);
        // The lines item first, on its own, when the order as read did not have these lines.
        if let Some(key) = &item.lines_key
            && previous.and_then(|p| p.lines_key.as_ref()) != Some(key)
        {
            t.order_lines.entry((item.pk.clone(), key.clone())).or_insert_with(|| (order.state.order.lines.clone(), order.updated_at));
        }
        let key = order_key(&order.merchant_id, &order.order_id);
        let stored = t.orders.get(&key);
        if !version_holds(stored.map(|o| o.version), order.version) {
            let current = stored.map(|o| t.whole_order(o)).transpose()?;
            return Ok(OrderWrite::Stale(current.map(Box::new)));
        }
        t.orders.insert(key, item);
        Ok(OrderWrite::Saved)
    }

    async fn finish_return(&self, merchant_id: &str, order_id: &str, seen_version: u64) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        if let Some(order) = t.orders.get_mut(&order_key(merchant_id, order_id)).filter(|o| o.version == seen_version) {
            order.return_pending = false;
            leave_due_index(order);
            order.version += 1;
        }
        Ok(())
    }

    async fn set_invoice_status(&self, merchant_id: &str, order_id: &str, status: InvoiceStatus, reason: Option<&str>, due: Due) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        let order = t.orders.get_mut(&order_key(merchant_id, order_id)).ok_or(StoreError::Conflict)?;
        set_status(order, status, reason.map_or(Reason::Clear, Reason::Set), due);
        Ok(())
    }
}

#[async_trait]
impl InvoiceStore for MemoryStore {
    async fn invoice(&self, merchant_id: &str, order_id: &str) -> Result<Option<InvoiceItem>, StoreError> {
        Ok(self.enter().await?.invoice(merchant_id, order_id))
    }

    async fn record_invoice(&self, invoice: &InvoiceItem) -> Result<(), StoreError> {
        let mut guard = self.enter().await?;
        let t = &mut *guard;
        let key = order_key(&invoice.merchant_id, &invoice.order_id);
        let number = (invoice.seller_ubn.clone(), invoice.number.clone());
        conflict_unless(!t.invoices.contains_key(&key) && !t.number_guards.contains_key(&number))?;
        let order = t.orders.get_mut(&key).ok_or_else(|| cancelled("the order does not exist"))?;
        let stored = as_stored(invoice)?;
        set_status(order, InvoiceStatus::Issued, Reason::Clear, Due::Later { at: invoice.issued_at + HANDOFF_GRACE, failed: false });
        t.invoices.insert(key.clone(), stored);
        t.number_guards.insert(number, key);
        Ok(())
    }

    async fn add_allowance(&self, invoice: &InvoiceItem, known: usize, allowance: &AllowanceItem) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        let stored = t.invoices.get_mut(&order_key(&invoice.merchant_id, &invoice.order_id)).ok_or(StoreError::Conflict)?;
        conflict_unless(stored.allowances.len() == known)?;
        stored.allowances.push(as_stored(allowance)?);
        Ok(())
    }

    async fn set_allowance_status(&self, invoice: &InvoiceItem, index: usize, status: AllowanceStatus) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        let allowance = t.invoices.get_mut(&order_key(&invoice.merchant_id, &invoice.order_id)).and_then(|i| i.allowances.get_mut(index));
        allowance.ok_or_else(|| StoreError::Dynamo(format!("the document path allowances[{index}] is invalid for update")))?.status = status;
        Ok(())
    }

    async fn record_void(&self, invoice: &InvoiceItem, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut guard = self.enter().await?;
        let t = &mut *guard;
        let key = order_key(&invoice.merchant_id, &invoice.order_id);
        let (Some(stored), Some(order)) = (t.invoices.get_mut(&key), t.orders.get_mut(&key)) else { return Err(StoreError::Conflict) };
        // Set by an update expression: milliseconds, as the DynamoDB adapter writes it.
        stored.voided_at.get_or_insert(at.trunc_subsecs(3));
        set_status(order, InvoiceStatus::Void, Reason::Keep, Due::Keep);
        Ok(())
    }

    async fn record_upload(&self, invoice: &InvoiceItem, order_status: InvoiceStatus, due: Due, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut guard = self.enter().await?;
        let t = &mut *guard;
        let key = order_key(&invoice.merchant_id, &invoice.order_id);
        let stored = t.invoices.get_mut(&key).ok_or_else(|| cancelled("the invoice does not exist"))?;
        let order = t.orders.get_mut(&key).ok_or(StoreError::Conflict)?;
        let return_pending = order.return_pending;
        // A waiting return keeps the order due.
        let due = match due {
            Due::Done if return_pending => Due::Later { at: now + HANDOFF_GRACE, failed: false },
            other => other,
        };
        stored.upload = as_stored(invoice)?.upload;
        set_status(order, order_status, Reason::Keep, due);
        Ok(return_pending)
    }
}

#[async_trait]
impl NumberLedger for MemoryStore {
    async fn ranges(&self, merchant_id: &str, period: &str) -> Result<Vec<RangeItem>, StoreError> {
        Ok(self.enter().await?.ranges_of(merchant_id, period))
    }

    async fn add_range(&self, range: &RangeItem) -> Result<bool, StoreError> {
        let mut t = self.enter().await?;
        t.period_merchants.insert((range.period.clone(), range.merchant_id.clone()));
        let key = (range.pk.clone(), range.sk.clone());
        if t.ranges.contains_key(&key) {
            return Ok(false);
        }
        t.ranges.insert(key, as_stored(range)?);
        Ok(true)
    }

    async fn take_block(&self, range: &RangeItem, wanted: u32) -> Result<Option<(u32, u32)>, StoreError> {
        let wanted = wanted.max(1);
        let mut t = self.enter().await?;
        let Some(stored) = t.ranges.get_mut(&(range.pk.clone(), range.sk.clone())) else { return Ok(None) };
        let first = stored.next;
        // The whole block while `next + wanted - 1 <= last`, else the tail, else nothing.
        let count = if u64::from(first) + u64::from(wanted) <= u64::from(range.last) + 1 {
            wanted
        } else if first <= range.last {
            range.last + 1 - first
        } else {
            return Ok(None);
        };
        stored.next = first + count;
        Ok(Some((first, count)))
    }

    async fn numbers_in_use(&self, seller_ubn: &str, numbers: &[String]) -> Result<HashSet<String>, StoreError> {
        let t = self.enter().await?;
        Ok(numbers.iter().filter(|n| t.number_guards.contains_key(&(seller_ubn.to_owned(), (*n).clone()))).cloned().collect())
    }

    async fn record_skipped_number(
        &self,
        merchant_id: &str,
        period: &str,
        number: &str,
        order_id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        t.skipped.insert((order_keys::ranges(merchant_id, period), number.to_owned()), (order_id.to_owned(), reason.to_owned(), at));
        Ok(())
    }

    async fn period_merchants(&self, period: &str) -> Result<Vec<String>, StoreError> {
        let t = self.enter().await?;
        let from = (period.to_owned(), String::new());
        Ok(t.period_merchants.range(from..).take_while(|(p, _)| p == period).map(|(_, m)| m.clone()).collect())
    }

    async fn period_numbers(&self, merchant_id: &str, period: &str) -> Result<PeriodNumbers, StoreError> {
        let t = self.enter().await?;
        let pk = order_keys::ranges(merchant_id, period);
        let skipped = t.skipped.range((pk.clone(), String::new())..).take_while(|((k, _), _)| *k == pk).map(|((_, n), _)| n.clone()).collect();
        Ok(PeriodNumbers { ranges: t.ranges_of(merchant_id, period), skipped, closed: t.period_closes.get(&pk).cloned() })
    }

    async fn record_period_close(&self, close: &PeriodCloseItem) -> Result<bool, StoreError> {
        let mut t = self.enter().await?;
        if t.period_closes.contains_key(&close.pk) {
            return Ok(false);
        }
        t.period_closes.insert(close.pk.clone(), as_stored(close)?);
        Ok(true)
    }
}

#[async_trait]
impl DueIndex for MemoryStore {
    async fn defer(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        let order = t.orders.get_mut(&order_key(merchant_id, order_id)).ok_or(StoreError::Conflict)?;
        move_due(order, Due::Later { at, failed: true });
        order.version += 1;
        Ok(())
    }

    async fn settle_due(&self, merchant_id: &str, order_id: &str, seen: &str) -> Result<bool, StoreError> {
        let mut t = self.enter().await?;
        match t.orders.get_mut(&order_key(merchant_id, order_id)).filter(|o| o.due_at.map(due_stamp).as_deref() == Some(seen)) {
            Some(order) => {
                leave_due_index(order);
                order.version += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn due_orders(&self, now: DateTime<Utc>, limit: usize) -> Result<(Vec<DueOrder>, bool), StoreError> {
        let t = self.enter().await?;
        let now = due_stamp(now);
        let mut due: Vec<DueOrder> = t
            .orders
            .values()
            .filter_map(|o| {
                let due_at = o.due_at.map(due_stamp).filter(|at| *at <= now && o.due_shard.is_some())?;
                Some(DueOrder {
                    merchant_id: o.merchant_id.clone(),
                    order_id: o.order_id.clone(),
                    due_at,
                    invoice_status: o.invoice_status,
                    retries: o.retries,
                })
            })
            .collect();
        due.sort_by(|a, b| (&a.due_at, &a.merchant_id, &a.order_id).cmp(&(&b.due_at, &b.merchant_id, &b.order_id)));
        let more = due.len() > limit;
        due.truncate(limit);
        Ok((due, more))
    }
}

#[async_trait]
impl OrderLinesProbe for MemoryStore {
    async fn order_lines_items(&self, merchant_id: &str, order_id: &str) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let t = self.enter().await?;
        let pk = order_keys::order(merchant_id, order_id);
        Ok(t.order_lines.range((pk.clone(), String::new())..).take_while(|((k, _), _)| *k == pk).map(|((_, key), (_, at))| (key.clone(), *at)).collect())
    }
}
