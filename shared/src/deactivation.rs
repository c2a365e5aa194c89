//! Deactivating a channel account, whoever asks (an admin through the channels API, or a
//! privacy request for the deactivation of integrations): the account goes inactive and its
//! token is deleted in one write, so later webhooks for it are dropped; and the app is
//! unsubscribed from the account's WhatsApp Business Account or Page only when no active
//! account of ours, in any business, remains on it (never cutting off another tenant's
//! number), subscribing it back if a neighbour joined while Meta was asked.

use crate::crypto::{Secret, TokenCipher};
use crate::domain::TenantId;
use crate::graph::GraphClient;
use crate::ids::ChannelAccountId;
use crate::inbound::Channel;
use crate::repo::channels::{ChannelError, ChannelRepo, ChannelStatus};

/// What a deactivation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deactivated {
    /// Whether the account was active before (deactivating it again changes nothing).
    pub was_active: bool,
    /// The fields that changed.
    pub changed: Vec<String>,
}

/// Deactivates the account; `None` when there is no such account.
pub async fn deactivate(
    repo: &ChannelRepo,
    graph: &GraphClient,
    cipher: &TokenCipher,
    tenant: &TenantId,
    id: &ChannelAccountId,
) -> Result<Option<Deactivated>, ChannelError> {
    let Some(current) = repo.get(tenant, id).await? else { return Ok(None) };
    // Read before the deactivation deletes it: the app is unsubscribed with it.
    let token = match current.status {
        ChannelStatus::Inactive => None,
        _ => repo.access_token(tenant, id, cipher).await.ok().flatten(),
    };
    let was_active = current.status != ChannelStatus::Inactive;
    if repo.deactivate(tenant, id).await?.is_none() {
        return Ok(None);
    }
    let mut changed: Vec<String> = ["status", "deactivated_at", "access_token"].map(str::to_owned).to_vec();
    if let (Some(through), true) = (current.subscribed_through(), was_active) {
        // Only when no active account of ours, in any business, remains on it (and with the
        // account's own token: without one, the note goes and the subscription stays).
        if repo.remove_subscriber(through, tenant, id).await?
            && let Some(token) = token
        {
            match graph.unsubscribe_app(through, &token).await {
                Ok(()) => {
                    changed.push("subscription".into());
                    resubscribe_if_joined(repo, graph, current.kind, through, &token).await;
                }
                // The account is inactive whatever Meta says: its webhooks are dropped.
                Err(e) => tracing::warn!(cause = %e, "the app was not unsubscribed"),
            }
        }
    }
    Ok(Some(Deactivated { was_active, changed }))
}

/// A neighbour's connection committed while Meta was unsubscribing the app: subscribe it back.
async fn resubscribe_if_joined(
    repo: &ChannelRepo,
    graph: &GraphClient,
    kind: Channel,
    through: &str,
    token: &Secret,
) {
    match repo.has_subscribers(through).await {
        Ok(false) => {}
        Ok(true) => {
            let subscribed = match kind {
                Channel::Whatsapp => graph.subscribe_app(through, token).await,
                _ => graph.subscribe_page(through, token).await,
            };
            if let Err(e) = subscribed {
                tracing::warn!(cause = %e, "the app was not subscribed again for a neighbour");
            }
        }
        Err(e) => tracing::warn!(cause = %e, "the neighbours of an unsubscribed account were not read"),
    }
}
