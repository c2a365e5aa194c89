//! Marking items that hold a person's data with whose data it is, so that export and erasure
//! find all of it by querying the subject index — never by scanning the table.

use serde_json::Value;

use super::keys::messages::media_file_key;
use crate::domain::TenantId;
use crate::ids::MessageId;
use crate::ports::{Index, Item, Key, Query, Table, TableError};

/// The attribute that hides an item being erased (`erasure.rs`): the id of the request
/// erasing it. Every repository reads such an item as absent.
pub const ERASING: &str = "erasing";

/// Whether an item is shown: not being erased.
pub fn visible(item: &Item) -> bool {
    !item.contains_key(ERASING)
}

/// Whose data an item holds: a contact (a customer of the business) or a member (a user).
pub fn subject_partition(tenant: &TenantId, subject_id: &str) -> String {
    format!("{tenant}#{subject_id}")
}

/// Adds the subject index attributes to an item. `kind` names the item type, so a subject's
/// items group by type in the index.
pub fn mark(item: &mut Item, tenant: &TenantId, subject_id: &str, kind: &str) {
    let (pk, sk) = (
        item.get("pk").and_then(Value::as_str).unwrap_or_default().to_owned(),
        item.get("sk").and_then(Value::as_str).unwrap_or_default().to_owned(),
    );
    item.insert(Index::Subject.partition_attribute().into(), subject_partition(tenant, subject_id).into());
    item.insert(Index::Subject.sort_attribute().into(), format!("{kind}#{pk}#{sk}").into());
}

/// The keys of every item holding this subject's data.
pub async fn keys_of_subject(
    table: &dyn Table,
    tenant: &TenantId,
    subject_id: &str,
) -> Result<Vec<Key>, TableError> {
    Ok(items_of_subject(table, tenant, subject_id).await?.iter().filter_map(Key::of).collect())
}

/// The bucket objects of this subject's items: the media file of each of their messages with
/// media (by the key a download writes, whether or not the message records it yet) and any
/// file key an item records.
pub async fn files_of_subject(
    table: &dyn Table,
    tenant: &TenantId,
    subject_id: &str,
) -> Result<Vec<String>, TableError> {
    Ok(files_of(tenant, &items_of_subject(table, tenant, subject_id).await?))
}

/// The bucket objects `items` hold (see [`files_of_subject`]), under the tenant's prefix only,
/// whatever an item says.
pub fn files_of(tenant: &TenantId, items: &[Item]) -> Vec<String> {
    let prefix = format!("{tenant}/");
    let mut files = std::collections::BTreeSet::new();
    for item in items {
        let kind = item.get(Index::Subject.sort_attribute()).and_then(Value::as_str).unwrap_or_default();
        let has_media = item.get("media").is_some_and(|m| !m.is_null());
        if kind.starts_with("MESSAGE#")
            && has_media
            && let Some(id) = item.get("id").and_then(Value::as_str).and_then(|id| MessageId::parse(id).ok())
        {
            files.insert(media_file_key(tenant, &id));
        }
        if let Some(key) = item.get("media").and_then(|m| m.get("file_key")).and_then(Value::as_str) {
            files.insert(key.to_owned());
        }
        // An access or portability request's archive holds everything of its subject.
        let exported = matches!(item.get("kind").and_then(Value::as_str), Some("access" | "portability"));
        if kind.starts_with("PRIVACY#")
            && exported
            && let Some(id) = item.get("id").and_then(Value::as_str)
        {
            files.insert(crate::resources::export_key(tenant, id));
        }
    }
    files.into_iter().filter(|key| key.starts_with(&prefix)).collect()
}

/// Every item holding this subject's data, as the subject index projects it (whole).
pub async fn items_of_subject(
    table: &dyn Table,
    tenant: &TenantId,
    subject_id: &str,
) -> Result<Vec<Item>, TableError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = table
            .query(
                Query::index(Index::Subject, subject_partition(tenant, subject_id))
                    .limit(500)
                    .start_after(start),
            )
            .await?;
        items.extend(page.items);
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(items),
        }
    }
}
