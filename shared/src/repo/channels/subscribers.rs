//! Which of our channel accounts receive their webhooks through one Graph object: a WhatsApp
//! Business Account (its numbers') or a Page (its Messenger and Instagram accounts'). The app
//! is subscribed to the object, not to an account, so deactivating one account unsubscribes
//! the app only when no other active account of ours, in any business, remains on it: never
//! cutting off another tenant's number on a shared WABA.
//!
//! Keys (global, ids only): `pk = SUBSCRIBER#{graph id}`, `sk = {tenant}#{account id}`.

use super::ChannelRepo;
use crate::domain::TenantId;
use crate::ids::ChannelAccountId;
use crate::ports::{Key, Query, TableError};

use crate::repo::keys::channels::subscribers_partition as partition;

fn key(graph_id: &str, tenant: &TenantId, account: &ChannelAccountId) -> Key {
    crate::repo::keys::channels::subscriber(graph_id, tenant, account.as_str())
}

impl ChannelRepo {
    /// Records the Page an Instagram account is the account of.
    pub async fn set_page(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        page_id: &str,
    ) -> Result<(), TableError> {
        let update = crate::ports::Update::default().set("page_id", page_id);
        let key = super::super::keys::channels::account(tenant, id.as_str());
        self.table.update(&key, update, Some(crate::ports::Condition::Exists)).await.map(|_| ())
    }

    /// Whether any account of ours is noted on `graph_id`.
    pub async fn has_subscribers(&self, graph_id: &str) -> Result<bool, TableError> {
        let page = self.table.query(Query::table(partition(graph_id)).limit(1)).await?;
        Ok(!page.items.is_empty())
    }

    /// Forgets `account` on `graph_id`; answers whether the app may be unsubscribed from it:
    /// the account was noted there (an account connected before these notes existed is not,
    /// and neither may its neighbours be, so nothing is unsubscribed for it) and no other
    /// account remains.
    pub async fn remove_subscriber(
        &self,
        graph_id: &str,
        tenant: &TenantId,
        account: &ChannelAccountId,
    ) -> Result<bool, TableError> {
        let key = key(graph_id, tenant, account);
        if self.table.delete(&key, None).await?.is_none() {
            return Ok(false);
        }
        let left = self.table.query(Query::table(key.pk.clone()).limit(1)).await?;
        Ok(left.items.is_empty())
    }
}
