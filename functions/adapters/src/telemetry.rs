//! Structured JSON logs (one object per line) with the span fields of the request:
//! request_id, merchant_id, order_id. Secrets are never recorded as fields.

pub use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Installs the JSON subscriber on stderr; `RUST_LOG` filters (default `info`). Safe to call twice.
pub fn init() {
    init_with(std::io::stderr, filter_from(std::env::var("RUST_LOG").ok().as_deref()));
}

/// `RUST_LOG` as level directives: `info`, `warn,einvoice_adapters=debug`, … (targets and levels
/// only: `Targets` needs no regex engine, which `EnvFilter` would add to every binary). A
/// value that does not parse means `info`.
pub fn filter_from(rust_log: Option<&str>) -> Targets {
    rust_log.and_then(|v| v.parse().ok()).unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// The same subscriber with another writer and filter (tests capture the log output with it).
pub fn init_with<W>(writer: W, filter: Targets)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(writer);
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
}
