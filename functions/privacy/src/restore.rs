//! Re-applying erasures after a restore from a point-in-time backup. A backup taken before an
//! erasure still holds its subject; the live table holds the proof (the completed request,
//! with a keyed digest of the subject's id) and the erased marks. Before the restored table
//! takes the live one's place, this reads every completed erasure from the live table, finds
//! each subject in the restored one by the digest of its id, and erases it there again the
//! way the worker does; then copies the erased marks over, so that a late redelivery of an
//! erased message is dropped. Both tables are read whole, once: a restore is rare and this is
//! its last step before the switch.

use gestor_shared::domain::TenantId;
use gestor_shared::ids::{ContactId, MemberId};
use gestor_shared::ports::{Files, Index, Item, Key, Table, TableError, TxOp};
use gestor_shared::repo::account_erasure;
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::erasure::{self, ErasureError};
use gestor_shared::repo::member_erasure;
use gestor_shared::repo::privacy::{Kind, PrivacyRepo, PrivacyRequest, Status, Subject};
use gestor_shared::repo::tenants::{self, TenantRepo};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::erasing::Eraser;

/// What a re-application did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reapplied {
    /// Completed erasures read from the live table.
    pub erasures: usize,
    /// Subjects found in the restored table and erased there again.
    pub erased_again: usize,
    /// Erased marks copied to the restored table.
    pub marks: usize,
}

/// Re-applies to `restored` every erasure `live` records as completed.
pub async fn reapply(
    live: Arc<dyn Table>,
    restored: Arc<dyn Table>,
    files: Arc<dyn Files>,
    ids: ErasedIds,
    now: OffsetDateTime,
) -> Result<Reapplied, ErasureError> {
    let mut done = Reapplied::default();
    // Digest of the subject's id (contact or member) -> the completed request.
    let mut erased: HashMap<String, (TenantId, PrivacyRequest)> = HashMap::new();
    let live_requests = PrivacyRepo::new(live.clone());
    let mut after = None;
    loop {
        let (tenants, next) = TenantRepo::new(live.clone()).all(after, 100).await?;
        for tenant in tenants {
            let mut start = None;
            loop {
                let (page, more) = live_requests.list(&tenant, 100, start).await?;
                for request in page {
                    let subject = &request.subject;
                    let hash = subject.contact_id_hash.clone().or_else(|| subject.member_id_hash.clone());
                    if let (Kind::Cancellation, Status::Completed, Some(hash)) =
                        (request.kind, request.status, hash)
                    {
                        erased.insert(hash, (tenant.clone(), request));
                    }
                }
                match more {
                    Some(more) => start = Some(more),
                    None => break,
                }
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    done.erasures = erased.len();

    // The subjects still in the restored table: its contacts and members, by their digest.
    let mut found: Vec<(TenantId, PrivacyRequest, Item)> = Vec::new();
    let restored_items = scan(restored.as_ref()).await?;
    let (accounts, erased_again) =
        reapply_accounts(live.as_ref(), restored.as_ref(), &restored_items, &ids).await?;
    done.erasures += accounts;
    done.erased_again += erased_again;
    for item in restored_items {
        let sort = item.get(Index::Subject.sort_attribute()).and_then(Value::as_str).unwrap_or_default();
        let Some(kind) = ["CONTACT#", "MEMBER#"].into_iter().find(|k| sort.starts_with(k)) else { continue };
        let Some((tenant, id)) = item
            .get(Index::Subject.partition_attribute())
            .and_then(Value::as_str)
            .and_then(|s| s.split_once('#'))
        else {
            continue;
        };
        let Ok(tenant) = TenantId::parse(tenant) else { continue };
        if let Some((_, request)) = erased.get(&ids.subject(&tenant, id)) {
            let mut again = request.clone();
            again.status = Status::InProgress;
            again.completed_at = None;
            again.subject = if kind == "CONTACT#" {
                let Ok(contact) = ContactId::parse(id) else { continue };
                Subject { contact_id: Some(contact), ..Subject::default() }
            } else {
                let Ok(member) = MemberId::parse(id) else { continue };
                Subject { member_id: Some(member), ..Subject::default() }
            };
            found.push((tenant, again, item));
        }
    }
    let eraser = Eraser::new(restored.clone(), files, ids);
    let requests = PrivacyRepo::new(restored.clone());
    for (tenant, request, item) in found {
        requests.put_as(&tenant, &request).await?;
        let Some(key) = gestor_shared::ports::Key::of(&item) else { continue };
        let accepted = if request.subject.contact_id.is_some() {
            // Hidden as the filing hides it, for the eraser to take it as this request's.
            erasure::mark_erasing_op(key, request.id.as_str())
        } else {
            // The user's sign-in id, for their idempotency records.
            let member: gestor_shared::repo::members::Member =
                serde_json::from_value(Value::Object(item.clone()))
                    .map_err(|e| TableError::Invalid(e.to_string()))?;
            member_erasure::marker_op(&tenant, request.id.as_str(), &member)
        };
        restored.transact(vec![accepted]).await?;
        eraser.erase_contact(&tenant, &request, now).await?;
        done.erased_again += 1;
    }

    // The erased marks, so that nothing erased comes back in through a late delivery.
    let marks: Vec<Item> = scan(live.as_ref())
        .await?
        .into_iter()
        .filter(|item| item.get("sk").and_then(Value::as_str) == Some("ERASED"))
        .collect();
    for chunk in marks.chunks(25) {
        let ops = chunk.iter().map(|item| TxOp::Put { item: item.clone(), condition: None }).collect();
        restored.transact(ops).await?;
    }
    done.marks = marks.len();
    Ok(done)
}

/// The businesses erased whole: each found in the restored table (its registry entry, by the
/// digest of its id) loses every item there again, and the proofs and checks are copied over. The number
/// of proofs, and of businesses erased again.
async fn reapply_accounts(
    live: &dyn Table,
    restored: &dyn Table,
    restored_items: &[Item],
    ids: &ErasedIds,
) -> Result<(usize, usize), ErasureError> {
    let proofs = account_erasure::proofs(live).await?;
    let hashes: std::collections::HashSet<&str> = proofs.iter().map(|(_, hash)| hash.as_str()).collect();
    let mut again = 0;
    for entry in restored_items.iter().filter(|i| Key::of(i).is_some_and(|k| k.pk == tenants::REGISTRY)) {
        let Some(tenant) = entry.get("sk").and_then(Value::as_str).and_then(|t| TenantId::parse(t).ok())
        else {
            continue;
        };
        if !hashes.contains(ids.subject(&tenant, account_erasure::SUBJECT).as_str()) {
            continue;
        }
        let keys: Vec<Key> = restored_items
            .iter()
            .filter(|item| account_erasure::belongs_to(item, &tenant))
            .filter_map(Key::of)
            .collect();
        restored.batch_delete(&keys).await?;
        again += 1;
    }
    let copies: Vec<Item> = scan(live)
        .await?
        .into_iter()
        .filter(|item| {
            let pk = item.get("pk").and_then(Value::as_str);
            pk == Some(account_erasure::PROOFS) || pk == Some(account_erasure::CHECKS)
        })
        .collect();
    for chunk in copies.chunks(25) {
        let ops = chunk.iter().map(|item| TxOp::Put { item: item.clone(), condition: None }).collect();
        restored.transact(ops).await?;
    }
    Ok((proofs.len(), again))
}

async fn scan(table: &dyn Table) -> Result<Vec<Item>, TableError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = table.scan(500, start.take()).await?;
        items.extend(page.items);
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(items),
        }
    }
}
