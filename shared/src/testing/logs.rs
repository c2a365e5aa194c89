//! The process's log lines kept in memory, written as the deployed functions write them (the
//! JSON subscriber of `logging`), so that a test can read back what a run logged: the canary
//! test looks there for an erased person's strings.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged since the capture was installed.
    pub fn text(&self) -> String {
        self.0.lock().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capture as the process's subscriber, once, at `info` (what the functions
/// log in AWS) whatever `RUST_LOG` says; `None` when another subscriber was installed first.
pub fn capture() -> Option<LogCapture> {
    static CAPTURE: OnceLock<Option<LogCapture>> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let writer = capture.clone();
            let filter = tracing_subscriber::EnvFilter::new("info");
            crate::logging::init_writing(filter, move || writer.clone()).then_some(capture)
        })
        .clone()
}
