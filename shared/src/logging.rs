//! Structured JSON logs. Every line carries the span fields set by the dispatcher (function,
//! request id, route, tenant); handlers never log tokens, secrets or message bodies.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber once; later calls (tests, the local server) are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    init_writing(filter, std::io::stdout);
}

/// The same subscriber, filtered by `filter` and writing to `writer` (a test keeping the
/// lines); `false` when a subscriber was installed already.
pub fn init_writing<W>(filter: EnvFilter, writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_writer(writer)
        .try_init()
        .is_ok()
}
