//! Key formats of an uploaded file: its record and its object (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ids::FileId;
use crate::ports::Key;

pub fn upload(tenant: &TenantId, id: &FileId) -> Key {
    Key::new(format!("{tenant}#UPLOAD"), id.to_string())
}

/// Where the frontend puts the file, under the tenant's prefix.
pub fn object(tenant: &TenantId, id: &FileId) -> String {
    format!("{tenant}/uploads/{id}")
}
