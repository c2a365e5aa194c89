//! Channel accounts: the WhatsApp numbers, Facebook Pages, Instagram accounts and TikTok
//! business accounts a tenant connected, with their access tokens encrypted at rest.
//!
//! Keys (infra/DATA-MODEL.md):
//! - account: `pk = {tenant}#CHANNEL`, `sk = {channel account id}`;
//!   `gsi1pk = {tenant}#CHANNEL#EXTERNAL`, `gsi1sk = {kind}#{external id}` (a tenant
//!   reconnecting an account it deactivated gets the same id back, so its conversations stay
//!   with it). The token is the `token` attribute (`crypto::Sealed`), only while active.
//! - route (*global*, ids only, read by the inbound worker before any tenant is known):
//!   `pk = ROUTE#{kind}#{external id}`, `sk = ROUTE`; `tenant_id`, `channel_account_id`.
//!   Created only if absent, in the same transaction as the account, so one channel account
//!   belongs to one tenant at most and a route never points at a missing account.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use super::keys::channels as keys;
use super::{from_item, now, to_item};
use crate::crypto::{CryptoError, Sealed, Secret, TokenCipher};
pub use crate::domain::Channel;
use crate::domain::TenantId;
use crate::ids::ChannelAccountId;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, Table, TableError, TxOp, Update};

const TOKEN: &str = "token";
/// Attempts at a connection when concurrent connections or deactivations of the same
/// account keep changing what was read.
const ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    /// Connected: its webhooks reach this tenant and its token is stored.
    Active,
    /// Deactivated: no token, no route; webhooks for it are dropped.
    Inactive,
    /// The channel refused its token (expired or revoked): webhooks still arrive, nothing is
    /// sent through it until an admin connects it again.
    NeedsReconnect,
}

/// A channel account as the API shows it: never with its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelAccount {
    pub id: ChannelAccountId,
    #[schema(schema_with = Channel::schema)]
    pub kind: Channel,
    /// WhatsApp phone number id, Page id, Instagram account id or TikTok business open id.
    pub external_id: String,
    pub display_name: String,
    pub status: ChannelStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub connected_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deactivated_at: Option<time::OffsetDateTime>,
    /// WhatsApp: the WhatsApp Business Account the number belongs to (its templates and
    /// template webhooks are the account's), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_account_id: Option<String>,
    /// Instagram: the Page whose Instagram account it is (the app is subscribed to the Page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<String>,
}

impl ChannelAccount {
    /// The Graph object whose webhooks subscription this account receives through: a number's
    /// business account, a Page, an Instagram account's Page; none for TikTok.
    pub fn subscribed_through(&self) -> Option<&str> {
        match self.kind {
            Channel::Whatsapp => self.business_account_id.as_deref(),
            Channel::Messenger => Some(self.external_id.as_str()),
            Channel::Instagram => self.page_id.as_deref(),
            Channel::Tiktok => None,
        }
    }
}

/// The write that notes `account` on `graph_id` (`subscribers`), for a transaction.
fn subscriber_note(graph_id: &str, tenant: &TenantId, account: &ChannelAccountId) -> TxOp {
    let key = keys::subscriber(graph_id, tenant, account.as_str());
    let item = Item::from_iter([(PK.to_owned(), key.pk.into()), (SK.to_owned(), key.sk.into())]);
    TxOp::Put { item, condition: None }
}

/// What a connection did.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// The account was not connected: a new one, or one this tenant had deactivated.
    Connected(ChannelAccount),
    /// This tenant had it connected already: its token and display name were replaced.
    Refreshed(ChannelAccount),
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Another tenant holds the routing record of this channel account.
    #[error("the channel account is connected to another business")]
    Taken,
    /// Concurrent connections kept racing this one.
    #[error("the channel account is being changed by other requests")]
    Contention,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Table(#[from] TableError),
}

/// The context a token is sealed for: this tenant's record of this account, so a ciphertext
/// copied into another record does not open.
fn token_aad(tenant: &TenantId, id: &ChannelAccountId) -> Vec<u8> {
    let mut aad = b"gestor/channel-token/v1".to_vec();
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    for part in [tenant.as_str(), id.as_str()] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

fn account_item(
    tenant: &TenantId,
    account: &ChannelAccount,
    token: Option<&Sealed>,
) -> Result<Item, TableError> {
    let mut item = to_item(account)?;
    let key = keys::account(tenant, account.id.as_str());
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert(Index::Gsi1.partition_attribute().into(), keys::external_partition(tenant).into());
    item.insert(
        Index::Gsi1.sort_attribute().into(),
        format!("{}#{}", account.kind, account.external_id).into(),
    );
    if let Some(sealed) = token {
        item.insert(
            TOKEN.into(),
            serde_json::to_value(sealed).map_err(|e| TableError::Invalid(e.to_string()))?,
        );
    }
    Ok(item)
}

/// A route at `key` to the tenant's account (a number's route, or a business account's).
fn route_item(key: Key, tenant: &TenantId, account: &ChannelAccountId) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert("tenant_id".into(), tenant.as_str().into());
    item.insert("channel_account_id".into(), account.as_str().into());
    item
}

/// The tenant and account a route item names (a number's, or a business account's).
fn route_of(item: &Item) -> Result<(TenantId, ChannelAccountId), TableError> {
    let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let tenant = field("tenant_id").and_then(|t| TenantId::parse(&t).ok());
    let id = field("channel_account_id").and_then(|i| ChannelAccountId::parse(&i).ok());
    match (tenant, id) {
        (Some(tenant), Some(id)) => Ok((tenant, id)),
        _ => Err(TableError::Backend("a channel route without its tenant or account".into())),
    }
}

/// The route's owner is exactly this tenant's account.
fn owned_route(tenant: &TenantId, id: &ChannelAccountId) -> Condition {
    Condition::All(vec![
        Condition::Equals("tenant_id".into(), tenant.as_str().into()),
        Condition::Equals("channel_account_id".into(), id.as_str().into()),
    ])
}

mod business;
mod signups;
mod subscribers;

#[derive(Clone)]
pub struct ChannelRepo {
    table: Arc<dyn Table>,
}

impl ChannelRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
    ) -> Result<Option<ChannelAccount>, TableError> {
        match self.table.get(&keys::account(tenant, id.as_str())).await? {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// Newest first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        start_after: Option<Item>,
    ) -> Result<(Vec<ChannelAccount>, Option<Item>), TableError> {
        let page = self
            .table
            .query(
                Query::table(keys::accounts_partition(tenant))
                    .backward()
                    .limit(limit)
                    .start_after(start_after),
            )
            .await?;
        let accounts = page.items.into_iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        Ok((accounts, page.last_key))
    }

    /// This tenant's account for a channel's external id, active or not.
    async fn by_external_id(
        &self,
        tenant: &TenantId,
        kind: Channel,
        external_id: &str,
    ) -> Result<Option<ChannelAccount>, TableError> {
        let sk = format!("{kind}#{external_id}");
        let query = Query::index(Index::Gsi1, keys::external_partition(tenant))
            .sort(SortKey::Between(sk.clone(), sk));
        match self.table.query(query.limit(1)).await?.items.into_iter().next() {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// The tenant and account a channel's webhooks belong to, while it is connected.
    pub async fn route(
        &self,
        kind: Channel,
        external_id: &str,
    ) -> Result<Option<(TenantId, ChannelAccountId)>, TableError> {
        self.table.get(&keys::route(kind, external_id)).await?.map(|item| route_of(&item)).transpose()
    }

    /// The decrypted access token of an active account; `None` when it is absent or inactive.
    pub async fn access_token(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        cipher: &TokenCipher,
    ) -> Result<Option<Secret>, ChannelError> {
        let Some(mut item) = self.table.get(&keys::account(tenant, id.as_str())).await? else {
            return Ok(None);
        };
        if item.get("status").and_then(Value::as_str) != Some("active") {
            return Ok(None);
        }
        let Some(sealed) = item.remove(TOKEN) else { return Ok(None) };
        let sealed: Sealed = serde_json::from_value(sealed).map_err(|_| CryptoError::Malformed)?;
        Ok(Some(cipher.open_secret(&sealed, &token_aad(tenant, id))?))
    }

    /// The account and its decrypted token in one read, for the sender: the token only while
    /// the account is active.
    pub async fn for_sending(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        cipher: &TokenCipher,
    ) -> Result<Option<(ChannelAccount, Option<Secret>)>, ChannelError> {
        let Some(mut item) = self.table.get(&keys::account(tenant, id.as_str())).await? else {
            return Ok(None);
        };
        let sealed = item.remove(TOKEN);
        let account: ChannelAccount = from_item(item)?;
        let token = match (account.status, sealed) {
            (ChannelStatus::Active, Some(sealed)) => {
                let sealed: Sealed = serde_json::from_value(sealed).map_err(|_| CryptoError::Malformed)?;
                Some(cipher.open_secret(&sealed, &token_aad(tenant, id))?)
            }
            _ => None,
        };
        Ok(Some((account, token)))
    }

    /// The channel refused the account's token: it needs an admin to connect it again, and
    /// `alert` (the admins' alert) is written in the same transaction, so that it is raised
    /// exactly once: `true` when this call moved the account, `false` when it was not active.
    pub async fn needs_reconnect(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        alert: TxOp,
    ) -> Result<bool, TableError> {
        let update = Update::default().set("status", "needs_reconnect");
        let active = Condition::Equals("status".into(), "active".into());
        let account =
            TxOp::Update { key: keys::account(tenant, id.as_str()), update, condition: Some(active) };
        let logged = super::audit::AuditEntry::by(
            super::audit::Actor { kind: super::audit::ActorType::System, id: "outbound".into() },
            "channel.needs_reconnect",
            super::audit::Resource { kind: "channel".into(), id: Some(id.to_string()) },
            &["status"],
        );
        let logged = super::audit::AuditRepo::record_op(tenant, &logged)?;
        match self.table.transact(vec![account, alert, logged]).await {
            Ok(()) => Ok(true),
            Err(TableError::TransactionCanceled { failed }) if failed.first().copied().unwrap_or(false) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Connects a channel account whose token was shown to reach it. The routing record is
    /// created only if absent: another tenant's is [`ChannelError::Taken`]; this tenant's
    /// means a reconnection, which replaces the token and the display name. The same
    /// transaction notes that the account receives its webhooks through the Graph object
    /// `through` (`subscribers`): a neighbour deactivated at the same moment then sees this
    /// account and leaves the app subscribed.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        &self,
        tenant: &TenantId,
        kind: Channel,
        external_id: &str,
        display_name: &str,
        token: &Secret,
        cipher: &TokenCipher,
        through: Option<&str>,
    ) -> Result<Connection, ChannelError> {
        for _ in 0..ATTEMPTS {
            let route = self.route(kind, external_id).await?;
            match route {
                Some((owner, _)) if &owner != tenant => return Err(ChannelError::Taken),
                Some((_, id)) => {
                    let Some(current) = self.get(tenant, &id).await? else {
                        return Err(TableError::Backend("a channel route to a missing account".into()).into());
                    };
                    let account = ChannelAccount {
                        display_name: display_name.to_owned(),
                        status: ChannelStatus::Active,
                        deactivated_at: None,
                        ..current
                    };
                    let sealed = cipher.seal_secret(token, &token_aad(tenant, &account.id))?;
                    let mut ops = vec![
                        TxOp::Check {
                            key: keys::route(kind, external_id),
                            condition: owned_route(tenant, &id),
                        },
                        TxOp::Put {
                            item: account_item(tenant, &account, Some(&sealed))?,
                            condition: Some(Condition::Exists),
                        },
                    ];
                    ops.extend(through.map(|graph_id| subscriber_note(graph_id, tenant, &account.id)));
                    match self.table.transact(ops).await {
                        Ok(()) => return Ok(Connection::Refreshed(account)),
                        // Deactivated or reconnected in between: read again.
                        Err(TableError::TransactionCanceled { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    let previous = self.by_external_id(tenant, kind, external_id).await?;
                    let account = ChannelAccount {
                        id: previous.as_ref().map(|p| p.id.clone()).unwrap_or_else(ChannelAccountId::new),
                        kind,
                        external_id: external_id.to_owned(),
                        display_name: display_name.to_owned(),
                        status: ChannelStatus::Active,
                        connected_at: now(),
                        deactivated_at: None,
                        business_account_id: previous.as_ref().and_then(|p| p.business_account_id.clone()),
                        page_id: previous.as_ref().and_then(|p| p.page_id.clone()),
                    };
                    let sealed = cipher.seal_secret(token, &token_aad(tenant, &account.id))?;
                    let mut ops = vec![
                        TxOp::Put {
                            item: route_item(keys::route(kind, external_id), tenant, &account.id),
                            condition: Some(Condition::NotExists),
                        },
                        TxOp::Put {
                            item: account_item(tenant, &account, Some(&sealed))?,
                            condition: previous.is_none().then_some(Condition::NotExists),
                        },
                    ];
                    ops.extend(through.map(|graph_id| subscriber_note(graph_id, tenant, &account.id)));
                    match self.table.transact(ops).await {
                        Ok(()) => return Ok(Connection::Connected(account)),
                        // Someone connected it first: see whose it is now.
                        Err(TableError::TransactionCanceled { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(ChannelError::Contention)
    }

    /// Deactivates an account: its token is deleted, it is marked inactive, and its routing
    /// record is deleted so later webhooks are dropped and another tenant may connect it.
    /// `None` when the tenant has no such account; an inactive one is answered as it is.
    pub async fn deactivate(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
    ) -> Result<Option<ChannelAccount>, ChannelError> {
        for _ in 0..ATTEMPTS {
            let Some(current) = self.get(tenant, id).await? else { return Ok(None) };
            let at = now();
            let mut ops = vec![TxOp::Update {
                key: keys::account(tenant, id.as_str()),
                update: Update::default()
                    .set("status", "inactive")
                    .set(
                        "deactivated_at",
                        at.format(&time::format_description::well_known::Rfc3339)
                            .map_err(|e| TableError::Invalid(e.to_string()))?,
                    )
                    .remove(TOKEN),
                condition: Some(Condition::Exists),
            }];
            // Only a route that is this account's goes: never another tenant's.
            if self
                .route(current.kind, &current.external_id)
                .await?
                .is_some_and(|(t, r)| &t == tenant && &r == id)
            {
                ops.push(TxOp::Delete {
                    key: keys::route(current.kind, &current.external_id),
                    condition: Some(owned_route(tenant, id)),
                });
            }
            // And its business account's route, when this number holds it, in the same write.
            let business = self.release_business_route(tenant, &current).await?;
            if ops.len() == 1 && business.is_none() && current.status == ChannelStatus::Inactive {
                return Ok(Some(current));
            }
            ops.extend(business);
            match self.table.transact(ops).await {
                Ok(()) => {
                    return Ok(Some(ChannelAccount {
                        status: ChannelStatus::Inactive,
                        deactivated_at: Some(at),
                        ..current
                    }));
                }
                Err(TableError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ChannelError::Contention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::embedded_core;

    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn a_token_copied_into_another_record_does_not_open() {
        let (core, _dir) = embedded_core();
        let repo = ChannelRepo::new(core.table.clone());
        let cipher = TokenCipher::parse("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
        let (acme, other) = (tenant("acme"), tenant("other"));
        let token = Secret::new("EAAG-acme");
        let Ok(Connection::Connected(a)) =
            repo.connect(&acme, Channel::Whatsapp, "111", "A", &token, &cipher, None).await
        else {
            panic!("first connection")
        };
        let Ok(Connection::Connected(b)) = repo
            .connect(&other, Channel::Messenger, "222", "B", &Secret::new("EAAG-other"), &cipher, None)
            .await
        else {
            panic!("second connection")
        };
        assert_eq!(repo.access_token(&acme, &a.id, &cipher).await.unwrap(), Some(token));

        // Copy acme's sealed token into other's record.
        let stolen =
            core.table.get(&keys::account(&acme, a.id.as_str())).await.unwrap().unwrap()[TOKEN].clone();
        let mut victim = core.table.get(&keys::account(&other, b.id.as_str())).await.unwrap().unwrap();
        victim.insert(TOKEN.into(), stolen);
        core.table.put(victim, None).await.unwrap();
        let result = repo.access_token(&other, &b.id, &cipher).await;
        assert!(matches!(result, Err(ChannelError::Crypto(CryptoError::Rejected))), "{result:?}");
    }
}
