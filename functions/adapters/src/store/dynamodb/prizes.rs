//! [`PrizeStore`] on DynamoDB: the `prize` map of the invoice item, each write one conditional
//! `UpdateItem` (docs/table-layout.md §3.8, §6.14). When a condition fails, one consistent read
//! of the invoice says why (no invoice, no prize, the same or another prize, who printed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Store, attribute, condition_held, key, s};
use crate::store::orders::{InvoiceItem, NumberGuardItem, order_keys};
use crate::store::prizes::PrizeListItem;
use crate::store::prizes::{PrizeItem, PrizeMarked, PrizeStamp};
use crate::store::{InvoiceStore, PrizeStore, StoreError};

impl Store {
    /// One `SET` of the invoice's `prize` (or a field of it) under `condition`; `false` when
    /// the condition did not hold.
    async fn update_prize(
        &self,
        merchant_id: &str,
        order_id: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(order_keys::order(merchant_id, order_id), order_keys::INVOICE)))
            .update_expression(update)
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        condition_held(request.send().await)
    }

    /// The prize as stored, after a condition failed.
    async fn stored_prize(&self, merchant_id: &str, order_id: &str) -> Result<Option<PrizeItem>, StoreError> {
        Ok(self.invoice(merchant_id, order_id).await?.and_then(|i| i.prize))
    }
}

#[async_trait]
impl PrizeStore for Store {
    async fn prize_list(&self, merchant_id: &str, period: &str) -> Result<Option<PrizeListItem>, StoreError> {
        self.get(order_keys::ranges(merchant_id, period), order_keys::PRIZES).await
    }

    async fn record_prize_list(&self, list: &PrizeListItem) -> Result<(), StoreError> {
        self.put_if_absent(list).await.map(|_| ())
    }

    async fn invoice_by_number(&self, seller_ubn: &str, number: &str) -> Result<Option<InvoiceItem>, StoreError> {
        let Some(guard) = self.get::<NumberGuardItem>(order_keys::invoice_number(seller_ubn, number), order_keys::REF).await? else {
            return Ok(None);
        };
        Ok(self.invoice(&guard.merchant_id, &guard.order_id).await?.filter(|i| i.seller_ubn == seller_ubn && i.number == number))
    }

    async fn mark_prize(&self, merchant_id: &str, order_id: &str, prize: &PrizeItem) -> Result<PrizeMarked, StoreError> {
        let marked = prize.as_marked();
        let condition = "attribute_exists(pk) AND attribute_not_exists(prize)";
        if self.update_prize(merchant_id, order_id, "SET prize = :prize", condition, vec![(":prize", attribute(&marked))]).await? {
            return Ok(PrizeMarked::Marked(marked));
        }
        match self.invoice(merchant_id, order_id).await?.map(|i| i.prize) {
            None => Ok(PrizeMarked::NoInvoice),
            Some(Some(stored)) if stored.same_prize(&marked) => Ok(PrizeMarked::Unchanged(stored)),
            // A different prize, or the item vanished between the write and the read.
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn record_prize_notified(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<PrizeStamp, StoreError> {
        let condition = "attribute_exists(prize) AND attribute_not_exists(prize.notified_at)";
        if self.update_prize(merchant_id, order_id, "SET prize.notified_at = :at", condition, vec![(":at", attribute(&at))]).await? {
            return Ok(PrizeStamp::Recorded(at));
        }
        Ok(match self.stored_prize(merchant_id, order_id).await?.and_then(|p| p.notified_at) {
            Some(first) => PrizeStamp::AlreadyRecorded(first),
            None => PrizeStamp::NotAWinner,
        })
    }

    async fn record_prize_printed(&self, merchant_id: &str, order_id: &str, request: &str, at: DateTime<Utc>) -> Result<PrizeStamp, StoreError> {
        let condition = "attribute_exists(prize) AND attribute_not_exists(prize.printed_at)";
        let values = vec![(":at", attribute(&at)), (":by", s(request))];
        if self.update_prize(merchant_id, order_id, "SET prize.printed_at = :at, prize.printed_by = :by", condition, values).await? {
            return Ok(PrizeStamp::Recorded(at));
        }
        Ok(match self.stored_prize(merchant_id, order_id).await? {
            Some(PrizeItem { printed_at: Some(first), printed_by, .. }) if printed_by.as_deref() == Some(request) => PrizeStamp::Recorded(first),
            Some(PrizeItem { printed_at: Some(first), .. }) => PrizeStamp::AlreadyRecorded(first),
            _ => PrizeStamp::NotAWinner,
        })
    }
}
