//! [`PrizeStore`] in memory: the conditions of `dynamodb/prizes.rs`, as Rust.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use super::orders::as_stored;
use crate::store::orders::InvoiceItem;
use crate::store::prizes::{PrizeItem, PrizeListItem, PrizeMarked, PrizeStamp};
use crate::store::{PrizeStore, StoreError, attribute};

/// `at` as the DynamoDB adapter writes it into the map (one attribute) and reads it back.
fn stored_time(at: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    serde_dynamo::from_attribute_value(attribute(&at)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl PrizeStore for MemoryStore {
    async fn prize_list(&self, merchant_id: &str, period: &str) -> Result<Option<PrizeListItem>, StoreError> {
        Ok(self.enter().await?.prize_lists.get(&(merchant_id.to_owned(), period.to_owned())).cloned())
    }

    async fn record_prize_list(&self, list: &PrizeListItem) -> Result<(), StoreError> {
        let list = as_stored(list)?;
        self.enter().await?.prize_lists.entry((list.merchant_id.clone(), list.period.clone())).or_insert(list);
        Ok(())
    }

    async fn invoice_by_number(&self, seller_ubn: &str, number: &str) -> Result<Option<InvoiceItem>, StoreError> {
        let t = self.enter().await?;
        let Some((merchant_id, order_id)) = t.number_guards.get(&(seller_ubn.to_owned(), number.to_owned())) else { return Ok(None) };
        Ok(t.invoices.get(&(merchant_id.clone(), order_id.clone())).cloned().filter(|i| i.seller_ubn == seller_ubn && i.number == number))
    }

    async fn mark_prize(&self, merchant_id: &str, order_id: &str, prize: &PrizeItem) -> Result<PrizeMarked, StoreError> {
        let marked = as_stored(&prize.as_marked())?;
        let mut t = self.enter().await?;
        let Some(invoice) = t.invoices.get_mut(&(merchant_id.to_owned(), order_id.to_owned())) else { return Ok(PrizeMarked::NoInvoice) };
        match &invoice.prize {
            None => {
                invoice.prize = Some(marked.clone());
                Ok(PrizeMarked::Marked(marked))
            }
            Some(stored) if stored.same_prize(&marked) => Ok(PrizeMarked::Unchanged(stored.clone())),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn record_prize_notified(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<PrizeStamp, StoreError> {
        let at = stored_time(at)?;
        let mut t = self.enter().await?;
        let prize = t.invoices.get_mut(&(merchant_id.to_owned(), order_id.to_owned())).and_then(|i| i.prize.as_mut());
        Ok(match prize {
            None => PrizeStamp::NotAWinner,
            Some(PrizeItem { notified_at: Some(first), .. }) => PrizeStamp::AlreadyRecorded(*first),
            Some(prize) => {
                prize.notified_at = Some(at);
                PrizeStamp::Recorded(at)
            }
        })
    }

    async fn record_prize_printed(&self, merchant_id: &str, order_id: &str, request: &str, at: DateTime<Utc>) -> Result<PrizeStamp, StoreError> {
        let at = stored_time(at)?;
        let mut t = self.enter().await?;
        let prize = t.invoices.get_mut(&(merchant_id.to_owned(), order_id.to_owned())).and_then(|i| i.prize.as_mut());
        Ok(match prize {
            None => PrizeStamp::NotAWinner,
            Some(PrizeItem { printed_at: Some(first), printed_by, .. }) if printed_by.as_deref() == Some(request) => PrizeStamp::Recorded(*first),
            Some(PrizeItem { printed_at: Some(first), .. }) => PrizeStamp::AlreadyRecorded(*first),
            Some(prize) => {
                prize.printed_at = Some(at);
                prize.printed_by = Some(request.to_owned());
                PrizeStamp::Recorded(at)
            }
        })
    }
}
