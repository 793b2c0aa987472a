//! The edges of the Wixtar e-invoice link: AWS clients, provider clients, request
//! signatures, the HTTP plumbing shared by every function, configuration and tracing.

pub mod api;
pub mod aws;
pub mod config;
pub mod contracts;
pub mod crash;
pub mod crypto;
pub mod events;
pub mod idempotency;
pub mod mail;
pub mod numbers;
/// The order-side items (`store/orders.rs`), at the path their callers have always used.
pub use store::orders;
pub mod payment;
pub mod provider;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod signature;
pub mod store;
pub mod stream;
pub mod tax;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod upstream;
pub mod wixtar;
pub mod wiring;
