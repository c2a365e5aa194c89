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
use gestor_shared::repo::account_erasure::{self, AccountCheck, Pass, Proof};
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

    /// Checks completed account erasures again, all of them in one pass over the table, resumed
    /// run after run (at most [`PAGES_PER_RUN`] scan pages each): whatever of each business was
    /// written since (by work in flight when it ran, or a late delivery quarantined) is erased
    /// too. A check ends once a whole pass that began after its `until` is through; a business
    /// signed up since under the same id is new data, and ends its check at once.
    pub async fn verify_accounts(
        &self,
        checks: &[AccountCheck],
        now: OffsetDateTime,
    ) -> Result<Verified, ErasureError> {
        self.verify_accounts_within(checks, now, PAGES_PER_RUN).await
    }

    /// [`Self::verify_accounts`], reading at most `pages` scan pages.
    pub(crate) async fn verify_accounts_within(
        &self,
        checks: &[AccountCheck],
        now: OffsetDateTime,
        pages: usize,
    ) -> Result<Verified, ErasureError> {
        let table = self.table.as_ref();
        let mut verified = Verified::default();
        let mut erased = Vec::with_capacity(checks.len());
        for check in checks {
            if self.signed_up_again(check).await? {
                verified.ended += 1;
            } else {
                erased.push(check.clone());
            }
        }
        if erased.is_empty() {
            account_erasure::save_pass(table, None).await?;
            return Ok(verified);
        }
        for check in &erased {
            verified.residue += self.erase_objects(check).await?;
        }
        let businesses: Vec<TenantId> = erased.iter().map(|c| c.tenant.clone()).collect();
        // A pass under way goes on; otherwise one begins with this run.
        let mut pass = match account_erasure::pass(table).await? {
            Some(pass) if pass.after.is_some() => pass,
            _ => Pass { after: None, began_at: now },
        };
        for _ in 0..pages {
            let page = table.scan(500, pass.after.take()).await?;
            for (tenant, keys) in account_erasure::keys_in(&page.items, &businesses) {
                let Some(check) = erased.iter().find(|c| c.tenant == tenant) else { continue };
                if self.signed_up_again(check).await? {
                    continue;
                }
                table.batch_delete(&keys).await?;
                verified.residue += keys.len();
            }
            pass.after = page.last_key;
            if pass.after.is_none() {
                break;
            }
        }
        if pass.after.is_some() {
            account_erasure::save_pass(table, Some(&pass)).await?;
            return Ok(verified);
        }
        for check in erased.iter().filter(|c| c.until < pass.began_at) {
            account_erasure::end_check(table, check).await?;
            verified.ended += 1;
        }
        // Through: the next run begins a pass of its own.
        account_erasure::save_pass(table, None).await?;
        Ok(verified)
    }

    /// Whether a business signed up under the erased one's id since (its check then ends).
    async fn signed_up_again(&self, check: &AccountCheck) -> Result<bool, ErasureError> {
        if self.table.get(&tenants::key(&check.tenant)).await?.is_none() {
            return Ok(false);
        }
        account_erasure::end_check(self.table.as_ref(), check).await?;
        Ok(true)
    }

    /// The objects under the business, and the late deliveries naming its numbers, deleted.
    async fn erase_objects(&self, check: &AccountCheck) -> Result<usize, ErasureError> {
        let tenant = &check.tenant;
        let mut objects = self.files.list(&format!("{tenant}/")).await?;
        objects.extend(self.erasure.payloads_naming(tenant, &check.external).await?);
        for object in &objects {
            self.files.delete(object).await?;
        }
        Ok(objects.len())
    }
}

/// What a run of the account checks did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Items and objects found of erased businesses, and erased.
    pub residue: usize,
    /// Checks ended.
    pub ended: usize,
}

/// Scan pages one run of the checks reads at most (of up to 500 items each): a table of
/// millions of items is passed over in several hourly runs, each well inside the sweep's time.
pub const PAGES_PER_RUN: usize = 2000;
