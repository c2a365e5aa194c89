//! Carrying out an account's cancellation (`gestor_shared::repo::account_erasure`), for the
//! worker and for the hourly sweep. A run: hide the business again (the filing did), turn off
//! each channel integration as the channels API does (so Meta stops sending, and later
//! webhooks find no route), survey every item of the business and every object under its
//! prefix (and the raw deliveries outside it that name its channel accounts), record the
//! counts on the request (`in_progress`, once), delete, and end in one transaction: the
//! global proof and the check written, the request, its claim, the profile and the registry
//! entry deleted. Every step is repeatable; a crash anywhere, a redelivered job or two runs at
//! once end the same.

use gestor_shared::crypto::TokenCipher;
use gestor_shared::deactivation::deactivate;
use gestor_shared::domain::TenantId;
use gestor_shared::graph::GraphClient;
use gestor_shared::ports::{Condition, Key, Table, TableError, TxOp, Update};
use gestor_shared::registry::StartError;
use gestor_shared::repo::account_erasure::{self, AccountCheck, Proof};
use gestor_shared::repo::channels::{ChannelError, ChannelRepo};
use gestor_shared::repo::erasure::ErasureError;
use gestor_shared::repo::personal::ERASING;
use gestor_shared::repo::privacy::{PrivacyRepo, PrivacyRequest, Status};
use gestor_shared::repo::tenants;
use gestor_shared::settings::Settings;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::erasing::{Erased, Eraser};

/// What turning off a business's channel integrations takes: its accounts, the Graph API
/// (to unsubscribe the app) and the cipher of their tokens.
pub struct Integrations {
    pub(crate) channels: ChannelRepo,
    pub(crate) graph: GraphClient,
    pub(crate) cipher: TokenCipher,
}

impl Integrations {
    pub fn new(table: Arc<dyn Table>, settings: &Settings) -> Result<Self, StartError> {
        Ok(Self {
            channels: ChannelRepo::new(table),
            graph: GraphClient::new(settings)?,
            cipher: TokenCipher::from_settings(settings)?,
        })
    }

    /// Deactivates every channel account of the business: the external ids they had (what
    /// raw deliveries name them by).
    async fn turn_off(&self, tenant: &TenantId) -> Result<Vec<String>, TableError> {
        let mut external = Vec::new();
        let mut start = None;
        loop {
            let (accounts, next) = self.channels.list(tenant, 100, start).await?;
            for account in accounts {
                // Its own id only: a WhatsApp Business Account or Page it is subscribed
                // through may carry other businesses' numbers, whose deliveries name it too.
                external.push(account.external_id.clone());
                deactivate(&self.channels, &self.graph, &self.cipher, tenant, &account.id).await.map_err(
                    |e| match e {
                        ChannelError::Table(e) => e,
                        other => TableError::Backend(other.to_string()),
                    },
                )?;
            }
            match next {
                Some(next) => start = Some(next),
                None => return Ok(external),
            }
        }
    }
}

impl Eraser {
    /// Erases the whole business the request is for, and ends the request.
    pub async fn erase_account(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        integrations: &Integrations,
        now: OffsetDateTime,
    ) -> Result<Erased, ErasureError> {
        if !request.status.is_open() {
            return Ok(Erased::Completed);
        }
        let id = request.id.as_str();
        let table = self.table.as_ref();
        let profile = tenants::key(tenant);
        // Still this request's business: a run that read the request before another one
        // ended it must not take a business signed up since under the same id.
        let ours = Condition::Equals(ERASING.into(), Value::from(id));
        match table.update(&profile, Update::default().set(ERASING, id), Some(ours)).await {
            Ok(_) => {}
            Err(TableError::ConditionFailed) => return self.ended(tenant, id).await,
            Err(e) => return Err(e.into()),
        }
        let external = integrations.turn_off(tenant).await?;
        let [own, claim] = PrivacyRepo::own_keys(tenant, request);
        let registry = Key::of(&tenants::registry_item(tenant));
        let keep: Vec<Key> =
            [Some(own.clone()), Some(claim.clone()), Some(profile.clone()), registry.clone()]
                .into_iter()
                .flatten()
                .collect();
        let mut objects: BTreeSet<String> =
            self.files.list(&format!("{tenant}/")).await?.into_iter().collect();
        objects.extend(self.erasure.payloads_naming(tenant, &external).await?);
        if request.status == Status::Received {
            // The objects counted now; the items as each page of the scan is deleted.
            let counts = json!({"files": objects.len()});
            match self.requests.start(tenant, request, json!({"counts": counts})).await? {
                Some(started) if started.status == Status::InProgress => {}
                _ => return self.ended(tenant, id).await,
            }
        }
        for object in &objects {
            self.files.delete(object).await?;
        }
        let Some(erased) = account_erasure::erase_items(table, tenant, &own, &keep).await? else {
            return self.ended(tenant, id).await;
        };
        let counts = erased.get("result").map(|r| r["counts"].clone()).unwrap_or(Value::Null);
        let proof = Proof {
            request_id: id.to_owned(),
            account_hash: self.erasure.ids().subject(tenant, account_erasure::SUBJECT),
            received_at: request.received_at,
            completed_at: now,
            counts,
        };
        // At least two hourly checks, however late it ends.
        let until = request.deadline_at.max(now + time::Duration::hours(2));
        let check = AccountCheck { request_id: id.to_owned(), tenant: tenant.clone(), until, external };
        let in_progress =
            serde_json::to_value(Status::InProgress).map_err(|e| TableError::Invalid(e.to_string()))?;
        let mut ops = vec![
            TxOp::Delete { key: own, condition: Some(Condition::Equals("status".into(), in_progress)) },
            account_erasure::proof_op(&proof)?,
            account_erasure::check_op(&check),
            TxOp::Delete { key: claim, condition: None },
            TxOp::Delete { key: profile, condition: None },
        ];
        ops.extend(registry.map(|key| TxOp::Delete { key, condition: None }));
        match table.transact(ops).await {
            Ok(()) => Ok(Erased::Completed),
            Err(TableError::TransactionCanceled { .. }) => self.ended(tenant, id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// How a run that found the business no longer its own left the request: completed by
    /// another run (its proof is there), ended otherwise, or still open (a conflict, or a
    /// profile not marked for it): an error, for the job to come again.
    async fn ended(&self, tenant: &TenantId, id: &str) -> Result<Erased, ErasureError> {
        if self.table.get(&account_erasure::proof_key(id)).await?.is_some() {
            return Ok(Erased::Completed);
        }
        match self.requests.get(tenant, id).await? {
            Some(request) if request.status.is_open() => Err(TableError::Backend(
                "the business's profile is not marked for this erasure, or changed meanwhile".into(),
            )
            .into()),
            _ => Ok(Erased::Gone),
        }
    }

    /// Checks completed account erasures again, with one scan of the table for all of them:
    /// whatever of each business was written since (by work in flight when it ran, or a late
    /// delivery quarantined) is erased too. For each check, the number of items and objects
    /// found, or why it failed. A business signed up since under the same id is new data, and
    /// ends its check.
    pub async fn verify_accounts(
        &self,
        checks: &[AccountCheck],
    ) -> Result<Vec<Result<usize, ErasureError>>, ErasureError> {
        let table = self.table.as_ref();
        let mut erased = Vec::with_capacity(checks.len());
        for check in checks {
            let signed_up = table.get(&tenants::key(&check.tenant)).await?.is_some();
            if signed_up {
                account_erasure::end_check(table, check).await?;
            }
            erased.push(!signed_up);
        }
        let businesses: Vec<TenantId> =
            checks.iter().zip(&erased).filter(|(_, e)| **e).map(|(c, _)| c.tenant.clone()).collect();
        let mut found = match businesses.is_empty() {
            true => Default::default(),
            false => account_erasure::keys_of(table, &businesses).await?,
        };
        let mut outcomes = Vec::with_capacity(checks.len());
        for (check, erased) in checks.iter().zip(erased) {
            let keys = found.remove(&check.tenant).unwrap_or_default();
            outcomes.push(match erased {
                true => self.erase_residue(check, &keys).await,
                false => Ok(0),
            });
        }
        Ok(outcomes)
    }

    async fn erase_residue(&self, check: &AccountCheck, keys: &[Key]) -> Result<usize, ErasureError> {
        let tenant = &check.tenant;
        // Signed up again while the table was read: what was found may be the new business's.
        if self.table.get(&tenants::key(tenant)).await?.is_some() {
            account_erasure::end_check(self.table.as_ref(), check).await?;
            return Ok(0);
        }
        let mut objects = self.files.list(&format!("{tenant}/")).await?;
        // A late delivery for one of its numbers, quarantined or kept since.
        objects.extend(self.erasure.payloads_naming(tenant, &check.external).await?);
        for object in &objects {
            self.files.delete(object).await?;
        }
        self.table.batch_delete(keys).await?;
        Ok(keys.len() + objects.len())
    }
}
