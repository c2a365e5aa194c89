//! What unauthorized-access detection reads: which businesses had something to look at in a
//! window (a denied request or a sign-in). The writes come once per window and actor (the
//! first denial of a window, a new session), never per request.

use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::security as keys;
use crate::domain::TenantId;
use crate::ports::table::{PK, SK};
use crate::ports::{Item, Query, Table, TableError, TxOp};

fn item(window: OffsetDateTime, tenant: &TenantId) -> Item {
    let key = keys::window_entry(window, tenant);
    // Read for two windows; TTL clears it a day later (a backstop: nothing reads it again).
    let expires = window.unix_timestamp() + 86_400;
    Item::from_iter([
        (PK.to_owned(), key.pk.into()),
        (SK.to_owned(), key.sk.into()),
        ("expires_at".to_owned(), expires.into()),
    ])
}

/// The write noting `tenant` in the window, for the transaction of what it notes.
pub fn note_op(window: OffsetDateTime, tenant: &TenantId) -> TxOp {
    TxOp::Put { item: item(window, tenant), condition: None }
}

#[derive(Clone)]
pub struct SecurityRepo {
    table: Arc<dyn Table>,
}

impl SecurityRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn note(&self, window: OffsetDateTime, tenant: &TenantId) -> Result<(), TableError> {
        self.table.put(item(window, tenant), None).await
    }

    /// The businesses noted in the window starting at `window`.
    pub async fn noted(&self, window: OffsetDateTime) -> Result<Vec<TenantId>, TableError> {
        let mut tenants = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .table
                .query(Query::table(keys::window_partition(window)).limit(500).start_after(after))
                .await?;
            tenants.extend(
                page.items.iter().filter_map(|i| i.get(SK)?.as_str()).filter_map(|t| TenantId::parse(t).ok()),
            );
            after = page.last_key;
            if after.is_none() {
                return Ok(tenants);
            }
        }
    }
}
