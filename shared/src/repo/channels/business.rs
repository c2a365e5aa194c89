//! A WhatsApp number's business account (WABA): recorded on the channel account once known
//! (Embedded Signup names it; for a number connected by hand it is found when its templates
//! are first synced), with a route so that the account's own webhooks, which name the WABA
//! and no number, reach the tenant.

use super::super::audit::{Actor, AuditEntry, AuditRepo, Resource};
use super::super::keys::channels as keys;
use super::{ChannelAccount, ChannelRepo};
use crate::domain::TenantId;
use crate::ids::ChannelAccountId;
use crate::ports::{Condition, TableError, TxOp, Update};

impl ChannelRepo {
    /// Records that the account's number belongs to the business account `waba_id`, and
    /// routes the business account's webhooks to this tenant unless another tenant's active
    /// number holds that route already (then its webhooks go there, and this tenant's
    /// templates are kept current by syncing). A route left to a number that is no longer
    /// active, or gone, is taken over.
    pub async fn set_business_account(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        waba_id: &str,
    ) -> Result<(), TableError> {
        let Some(current) = self.get(tenant, id).await? else { return Err(TableError::ConditionFailed) };
        if current.business_account_id.as_deref() != Some(waba_id) {
            self.learn_business_account(tenant, id, waba_id).await?;
        }
        self.claim_business_route(tenant, id, waba_id).await
    }

    /// The account's business account, written with its audit entry: the number's own
    /// record changes (the HTTP layer logs a member's connection, not what a sync learns).
    async fn learn_business_account(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        waba_id: &str,
    ) -> Result<(), TableError> {
        let update = Update::default().set("business_account_id", waba_id);
        let learned = AuditEntry::by(
            Actor::system("channels"),
            "channel.update",
            Resource { kind: "channel".into(), id: Some(id.to_string()) },
            &["business_account_id"],
        );
        self.table
            .transact(vec![
                TxOp::Update {
                    key: keys::account(tenant, id.as_str()),
                    update,
                    condition: Some(Condition::Exists),
                },
                AuditRepo::record_op(tenant, &learned)?,
            ])
            .await
            .map_err(|e| match e {
                // Gone meanwhile (deactivated and erased): as the update alone answered.
                TableError::TransactionCanceled { failed } if failed.first().copied().unwrap_or(false) => {
                    TableError::ConditionFailed
                }
                e => e,
            })
    }

    async fn claim_business_route(
        &self,
        tenant: &TenantId,
        id: &ChannelAccountId,
        waba_id: &str,
    ) -> Result<(), TableError> {
        let route = keys::business_route(waba_id);
        let condition = match self.business_route(waba_id).await? {
            None => Condition::NotExists,
            Some((owner, holder)) => {
                let held = owner == *tenant && holder == *id;
                let holder_active = self
                    .get(&owner, &holder)
                    .await?
                    .is_some_and(|a| a.status == super::ChannelStatus::Active);
                if held || (holder_active && owner != *tenant) {
                    return Ok(());
                }
                // Only from the holder it was read with: a concurrent claim keeps it.
                super::owned_route(&owner, &holder)
            }
        };
        let item = super::route_item(route, tenant, id);
        match self.table.put(item, Some(condition)).await {
            // Taken meanwhile: whoever took it keeps it.
            Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The tenant, and the number, a business account's webhooks belong to.
    pub async fn business_route(
        &self,
        waba_id: &str,
    ) -> Result<Option<(TenantId, ChannelAccountId)>, TableError> {
        self.table.get(&keys::business_route(waba_id)).await?.map(|item| super::route_of(&item)).transpose()
    }

    /// The write that releases the business account's route with the number's
    /// deactivation, in its transaction, when this number holds it.
    pub(super) async fn release_business_route(
        &self,
        tenant: &TenantId,
        account: &ChannelAccount,
    ) -> Result<Option<TxOp>, TableError> {
        let Some(waba_id) = &account.business_account_id else { return Ok(None) };
        let held = self.business_route(waba_id).await?.is_some_and(|(t, a)| &t == tenant && a == account.id);
        let owned = super::owned_route(tenant, &account.id);
        Ok(held.then(|| TxOp::Delete { key: keys::business_route(waba_id), condition: Some(owned) }))
    }
}
