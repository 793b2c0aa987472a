//! The DynamoDB adapter against moto: the store ports' contract (the same checks the in-memory
//! adapter passes), and the order items' layout.

use e2e_tests::start;
use einvoice_adapters::store::Store;

async fn store() -> (e2e_tests::Harness, Store) {
    let h = start().await;
    let s = h.stack.store();
    (h, s)
}

// The store ports' contract (functions/adapters/src/store/contract.rs) against moto: the
// same checks the in-memory adapter passes in the adapters' unit tests.
einvoice_adapters::store_contract_tests!(let (_h, store) = store().await; &store);
