//! Invoice numbers (發票號碼) for one issuer instance: handed out from blocks it leases from the
//! merchant's 字軌 ranges (one atomic take per block, [`NumberLedger::take_block`]), the block size
//! growing while the merchant is busy ([`NumberBlock::next_size`]); a new range is fetched from
//! Wixtar when all are used up. docs/invoices.md §5 has the design and its limits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use einvoice_domain::{InvoiceNumber, InvoicePeriod, NumberBlock, Track};
use tokio::sync::Mutex;

use crate::orders::{RangeItem, order_keys};
use crate::store::{NumberLedger, StoreError};
use crate::upstream::UpstreamError;
use crate::wixtar::{PosIdentity, WixtarClient};

/// Rounds of "read the ranges, lease a block or fetch another range" before giving up. A round
/// only fails when concurrent instances took the numbers first, so only many instances
/// draining small books at once need more than a few.
const MAX_REFILLS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum NumbersError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Wixtar: {0}")]
    Wixtar(#[from] UpstreamError),
    #[error("{0}")]
    Invalid(String),
}

/// One merchant's numbers of one period as this instance knows them.
#[derive(Default)]
struct Known {
    /// The ranges read last (their counters may have moved since).
    ranges: Option<Vec<RangeItem>>,
    block: Option<NumberBlock>,
}

/// The number blocks of one instance, per merchant, period and seller UBN (a merchant that
/// changes its UBN gets numbers only from ranges Wixtar assigned to the new one). The lock is
/// held across the counter write, so an instance hands out its numbers in order.
#[derive(Default)]
pub struct NumberAllocator {
    known: Mutex<HashMap<(String, String, String), Known>>,
}

impl NumberAllocator {
    /// The next number of the merchant's ranges for `period`; `None` when Wixtar has none left.
    pub async fn next(
        &self,
        store: &(impl NumberLedger + ?Sized),
        wixtar: &dyn WixtarClient,
        pos: &PosIdentity,
        merchant_id: &str,
        period: &InvoicePeriod,
        now: DateTime<Utc>,
    ) -> Result<Option<InvoiceNumber>, NumbersError> {
        let period = period.to_string();
        let mut known = self.known.lock().await;
        let known = known.entry((merchant_id.to_owned(), period.clone(), pos.ubn.clone())).or_default();
        // Open ranges of this UBN (ranges stored before the UBN was recorded count as this one's).
        let open_here = |r: &RangeItem| r.next <= r.last && r.seller_ubn.as_ref().is_none_or(|u| *u == pos.ubn);
        if let Some(number) = known.block.as_mut().and_then(NumberBlock::take) {
            return Ok(Some(number));
        }
        let wanted = NumberBlock::next_size(known.block.as_ref(), now);
        for _ in 0..MAX_REFILLS {
            let mut ranges = match known.ranges.take() {
                Some(r) if r.iter().any(open_here) => r,
                _ => store.ranges(merchant_id, &period).await?,
            };
            // A range with numbers left, as far as this instance knows: one of them at random,
            // so that instances racing for a merchant with several books spread over them. If
            // its counter says it is used up, the next known one; the ranges are read again
            // (one query shows every counter) when none is left.
            let open: Vec<usize> = (0..ranges.len()).filter(|i| open_here(&ranges[*i])).collect();
            if !open.is_empty() {
                let range = &mut ranges[open[rand::random_range(0..open.len())]];
                // A block is at most a quarter of a range, so that concurrent instances share it.
                let wanted = wanted.min(((range.last - range.first + 1) / 4).max(1));
                let Some((first, count)) = store.take_block(range, wanted).await? else {
                    range.next = range.last + 1;
                    known.ranges = Some(ranges);
                    continue;
                };
                range.next = first + count;
                let track = Track::parse(&range.track).map_err(|e| NumbersError::Invalid(e.to_string()))?;
                let mut block = NumberBlock::new(track, first, count, now);
                let number = block.take().ok_or_else(|| NumbersError::Invalid("sequence out of range".into()))?;
                if count > 1 {
                    tracing::info!(track = %range.track, first, count, "number block leased");
                }
                known.block = Some(block);
                known.ranges = Some(ranges);
                return Ok(Some(number));
            }
            // Concurrent refills ask with the same request id and get the same range.
            if !fetch_range(store, wixtar, pos, merchant_id, &period, ranges.len() + 1, now).await? {
                return Ok(None);
            }
        }
        Err(NumbersError::Invalid("number ranges kept running out while refilling".into()))
    }
}

/// Asks Wixtar for the merchant's `n`th range (book) of `period` and stores it (once, however
/// many instances ask: the request id `{merchant_id}:{period}:{n}` gets the same book);
/// `false` when Wixtar has none left.
pub async fn fetch_range(
    store: &(impl NumberLedger + ?Sized),
    wixtar: &dyn WixtarClient,
    pos: &PosIdentity,
    merchant_id: &str,
    period: &str,
    n: usize,
    now: DateTime<Utc>,
) -> Result<bool, NumbersError> {
    let request_id = format!("{merchant_id}:{period}:{n}");
    let Some(wire) = wixtar.allocate_range(pos, period, &request_id).await? else { return Ok(false) };
    let parse = |s: &str| s.parse::<u32>().map_err(|_| NumbersError::Invalid(format!("Wixtar range bound {s:?} is not 8 digits")));
    let (first, last) = (parse(&wire.first)?, parse(&wire.last)?);
    let range = RangeItem {
        pk: order_keys::ranges(merchant_id, period),
        sk: order_keys::range(&wire.track, first),
        entity: "number_range".into(),
        merchant_id: merchant_id.into(),
        period: period.into(),
        track: wire.track.clone(),
        first,
        last,
        next: first,
        request_id,
        seller_ubn: Some(pos.ubn.clone()),
        fetched_at: now,
    };
    if store.add_range(&range).await? {
        tracing::info!(track = %range.track, first, last, "number range fetched from Wixtar");
    }
    Ok(true)
}
