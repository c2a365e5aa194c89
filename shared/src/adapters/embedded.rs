//! The embedded store's one on-disk database, shared by the embedded table and queue so that
//! a laptop needs no service and a restart loses nothing.

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the embedded database at {path}: {reason}")]
pub struct OpenError {
    pub path: String,
    pub reason: String,
}

/// Opens (creating if needed) the database file. One process opens it once and shares it.
pub fn open(path: &Path) -> Result<Arc<redb::Database>, OpenError> {
    let fail = |reason: String| OpenError { path: path.display().to_string(), reason };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    redb::Database::create(path).map(Arc::new).map_err(|e| fail(e.to_string()))
}
