//! Structured JSON logs. Every line carries the span fields set by the dispatcher (function,
//! request id, route, tenant); handlers never log tokens, secrets or message bodies.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; later calls (tests, the local server) are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}
