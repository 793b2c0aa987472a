//! Structured JSON logs (one object per line) with the span fields of the request:
//! request_id, merchant_id, order_id. Secrets are never recorded as fields.

pub use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber on stderr; `RUST_LOG` filters (default `info`). Safe to call twice.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    init_with(std::io::stderr, filter);
}

/// The same subscriber with another writer and filter (tests capture the log output with it).
pub fn init_with<W>(writer: W, filter: EnvFilter)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
}
