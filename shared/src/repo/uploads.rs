//! Files the frontend uploads to send: a record of what was announced (type, size, name) when
//! the upload link was made, so that a reply naming the file is checked against the channel
//! before anything is queued. The file is the business's, not a customer's: each message that
//! sends it gets its own copy (under the message's key), which erasure of that message
//! deletes while the upload stays for the next customer.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::uploads as keys;
use super::{from_item, to_item};
use crate::domain::TenantId;
use crate::ids::{FileId, MemberId};
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Table, TableError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: FileId,
    pub content_type: String,
    /// The size announced; the object's own size is checked when it is sent.
    pub size: u64,
    pub filename: Option<String>,
    pub created_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Upload {
    pub fn object_key(&self, tenant: &TenantId) -> String {
        keys::object(tenant, &self.id)
    }
}

/// The record of the uploaded file `id`, for a read joined to another (a reply's).
pub fn record_key(tenant: &TenantId, id: &FileId) -> crate::ports::Key {
    keys::upload(tenant, id)
}

impl Upload {
    /// The record as read from the table.
    pub fn from_item(item: crate::ports::Item) -> Result<Self, TableError> {
        from_item(item)
    }
}

/// Where the frontend puts the uploaded file `id`, under the tenant's prefix.
pub fn object_key(tenant: &TenantId, id: &FileId) -> String {
    keys::object(tenant, id)
}

#[derive(Clone)]
pub struct UploadRepo {
    table: Arc<dyn Table>,
}

impl UploadRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn create(&self, tenant: &TenantId, upload: &Upload) -> Result<(), TableError> {
        let mut item = to_item(upload)?;
        let key = keys::upload(tenant, &upload.id);
        item.insert(PK.into(), key.pk.into());
        item.insert(SK.into(), key.sk.into());
        self.table.put(item, Some(Condition::NotExists)).await
    }

    pub async fn get(&self, tenant: &TenantId, id: &FileId) -> Result<Option<Upload>, TableError> {
        match self.table.get(&keys::upload(tenant, id)).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }
}
