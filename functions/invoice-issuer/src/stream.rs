//! The table's stream: a batch's claims, each order once, worked on concurrently.

use async_trait::async_trait;
use einvoice_adapters::stream::{BatchResponse, StreamHandler, StreamRecord};

use crate::InvoiceIssuer;

/// The claims a stream batch carries: each order once (a later record of the same order
/// supersedes an earlier one: the work reads the order afresh), with the sequence numbers of
/// its records.
pub(crate) fn claims(records: &[StreamRecord]) -> Vec<((String, String), Vec<String>)> {
    let mut claims: Vec<((String, String), Vec<String>)> = Vec::new();
    for record in records {
        let (Some(m), Some(o)) = (record.string("merchant_id"), record.string("order_id")) else {
            tracing::warn!(sequence_number = %record.dynamodb.sequence_number, "stream record without an order; ignored");
            continue;
        };
        let order = (m.to_owned(), o.to_owned());
        let sequence = record.dynamodb.sequence_number.clone();
        match claims.iter_mut().find(|(known, _)| *known == order) {
            Some((_, sequences)) => sequences.push(sequence),
            None => claims.push((order, vec![sequence])),
        }
    }
    claims
}

#[async_trait]
impl StreamHandler for InvoiceIssuer {
    /// The orders of a batch are worked on concurrently; an order whose work could not even be
    /// deferred fails its records, which the mapping retries.
    async fn handle(&self, records: &[StreamRecord]) -> BatchResponse {
        let claims = claims(records);
        let results = futures_util::future::join_all(claims.iter().map(|((m, o), _)| self.work(m, o, 0))).await;
        let failed = claims.into_iter().zip(results).filter(|(_, result)| result.is_err()).flat_map(|((_, sequences), _)| sequences);
        BatchResponse::failed(failed)
    }
}

