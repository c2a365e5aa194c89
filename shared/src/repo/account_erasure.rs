//! Erasing a whole account: every item of the business (every key under `{tenant}#`) and the
//! global ones that name it (channel routes and subscriber notes, the users' memberships,
//! invites, its place in the registry), and every object under `{tenant}/`. The business is
//! hidden the moment the request is accepted: its profile is marked, and no member is let in
//! any more. Nothing of the business is left to keep the proof in, so the proof is a global
//! item naming the business by a keyed digest only.

use serde_json::Value;
use time::OffsetDateTime;

use super::personal::ERASING;
use crate::domain::TenantId;
use crate::ports::{Condition, Item, Key, Query, Table, TableError, TxOp, Update};

/// The global partition of account erasures' proofs.
pub const PROOFS: &str = "ERASED_ACCOUNT";
/// The global partition of the completed account erasures the sweep checks again.
pub const CHECKS: &str = "ERASED_ACCOUNT_CHECK";
/// The attribute a check names the business by (not `tenant_id`: the check is no item of it).
const CHECKED: &str = "erased_tenant";
/// What the digest of an account's erasure is taken of, with the tenant id.
pub const SUBJECT: &str = "account";

/// The write hiding the business, in the transaction that files its erasure. The version
/// moves too, so a settings change that read the profile before fails instead of writing it
/// back unhidden.
pub fn hide_op(tenant: &TenantId, request_id: &str) -> TxOp {
    TxOp::Update {
        key: super::keys::tenants::profile(tenant),
        update: Update::default().set(ERASING, request_id).add("version", 1),
        condition: Some(Condition::Exists),
    }
}

/// Whether the business's profile item says it is being erased.
pub fn is_hidden(profile: &Item) -> bool {
    profile.contains_key(ERASING)
}

/// The global partitions that hold items naming a business, and how each names it.
const GLOBAL: [(&str, Naming); 8] = [
    ("ROUTE#", Naming::TenantAttribute),
    ("INVITE#", Naming::TenantAttribute),
    ("SNOOZE#", Naming::TenantAttribute),
    ("USER#", Naming::SortKey),
    ("SECURITY#", Naming::SortKey),
    ("TENANTS", Naming::SortKey),
    ("SUBSCRIBER#", Naming::SortKeyStart),
    ("OUTBOX#", Naming::SortKeyPart),
];

#[derive(Clone, Copy)]
enum Naming {
    /// `tenant_id` is the business's id.
    TenantAttribute,
    /// The sort key is the business's id.
    SortKey,
    /// The sort key starts with `{tenant}#`.
    SortKeyStart,
    /// The sort key is `{time}#{tenant}#{id}`.
    SortKeyPart,
}

/// Whether an item is the business's: keyed under it (tenant ids never take a global
/// partition's name: `domain::tenant::RESERVED`), or an item of a global partition naming it
/// the way that partition does. Nothing else is looked at, so no other business's item whose
/// sort key or attributes happen to read like this one's id is taken.
pub fn belongs_to(item: &Item, tenant: &TenantId) -> bool {
    let text = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
    let own = format!("{tenant}#");
    let pk = text("pk");
    if pk.starts_with(&own) {
        return true;
    }
    // Each name ends in `#` but the registry's, which is a whole partition key.
    let Some((_, naming)) =
        GLOBAL.iter().find(|(prefix, _)| pk == *prefix || (prefix.ends_with('#') && pk.starts_with(prefix)))
    else {
        return false;
    };
    match naming {
        Naming::TenantAttribute => text("tenant_id") == tenant.as_str(),
        Naming::SortKey => text("sk") == tenant.as_str(),
        Naming::SortKeyStart => text("sk").starts_with(&own),
        Naming::SortKeyPart => text("sk").split('#').nth(1) == Some(tenant.as_str()),
    }
}

/// The request's attribute holding how far its scan of the table got (the last key of the
/// page whose items are deleted, as JSON), [`SCANNED`] once it is through.
const SCAN_AFTER: &str = "scan_after";
/// The request's attribute holding the page being deleted: its items' keys and its last key.
const SCAN_PENDING: &str = "scan_pending";
const SCANNED: &str = "done";
/// Items a scan page reads at most (the page's matches are kept on the request meanwhile).
const PAGE: usize = 500;

/// Deletes every item of the business but `keep`, a page of the table's scan at a time, with
/// how far it got kept on the request (`request`, which must be `in_progress`): a run
/// stopped anywhere (a Lambda's timeout on a large table, a crash) is resumed by the next
/// from its last page, and the counts per item type (`result.counts`) count each item once.
/// Each page is first recorded (its matches' keys, added to the counts, conditional on the
/// progress read, so that two runs at once never both count it), then deleted, then passed.
/// The request as it stands once every page is through; `None` when it is no longer under way.
pub async fn erase_items(
    table: &dyn Table,
    tenant: &TenantId,
    request: &Key,
    keep: &[Key],
) -> Result<Option<Item>, TableError> {
    let mut read_again = true;
    let mut current = Item::new();
    loop {
        if read_again {
            let Some(stored) = table.get(request).await? else { return Ok(None) };
            current = stored;
        }
        if current.get("status").and_then(Value::as_str) != Some("in_progress") {
            return Ok(None);
        }
        let after = current.get(SCAN_AFTER).cloned();
        let read = match &after {
            Some(after) => Condition::Equals(SCAN_AFTER.into(), after.clone()),
            None => Condition::Lacks(SCAN_AFTER.into()),
        };
        if let Some(pending) = current.get(SCAN_PENDING) {
            let keys: Vec<Key> = pending["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| Some(Key::new(k["pk"].as_str()?, k["sk"].as_str()?)))
                .collect();
            table.batch_delete(&keys).await?;
            let last = pending["last"].as_str().unwrap_or(SCANNED).to_owned();
            let passed = Update::default().set(SCAN_AFTER, last).remove(SCAN_PENDING);
            (current, read_again) = match table.update(request, passed, Some(read)).await {
                Ok(now) => (now, false),
                // Passed by another run meanwhile: read again.
                Err(TableError::ConditionFailed) => (current, true),
                Err(e) => return Err(e),
            };
            continue;
        }
        let start = match after.as_ref().and_then(Value::as_str) {
            Some(SCANNED) => return Ok(Some(current)),
            Some(after) => serde_json::from_str::<Item>(after)
                .map(Some)
                .map_err(|e| TableError::Invalid(e.to_string()))?,
            None => None,
        };
        let page = table.scan(PAGE, start).await?;
        let mut counts = current
            .get("result")
            .and_then(|r| r.get("counts"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut keys = Vec::new();
        for item in page.items.iter().filter(|i| belongs_to(i, tenant)) {
            let Some(key) = Key::of(item).filter(|k| !keep.contains(k)) else { continue };
            let kind = counts.entry(kind_of(item, tenant)).or_insert(Value::from(0));
            *kind = Value::from(kind.as_u64().unwrap_or(0) + 1);
            keys.push(serde_json::json!({"pk": key.pk, "sk": key.sk}));
        }
        let last = match page.last_key {
            Some(last) => Value::Object(last).to_string(),
            None => SCANNED.to_owned(),
        };
        let mut result = current.get("result").and_then(Value::as_object).cloned().unwrap_or_default();
        result.insert("counts".into(), Value::Object(counts));
        let recorded = Update::default()
            .set("result", Value::Object(result))
            .set(SCAN_PENDING, serde_json::json!({"keys": keys, "last": last}));
        let unrecorded = Condition::All(vec![read, Condition::Lacks(SCAN_PENDING.into())]);
        (current, read_again) = match table.update(request, recorded, Some(unrecorded)).await {
            Ok(now) => (now, false),
            Err(TableError::ConditionFailed) => (current, true),
            Err(e) => return Err(e),
        };
    }
}

/// The keys of the items of a scan page that are each business's.
pub fn keys_in(items: &[Item], businesses: &[TenantId]) -> std::collections::HashMap<TenantId, Vec<Key>> {
    let mut found: std::collections::HashMap<TenantId, Vec<Key>> = std::collections::HashMap::new();
    for item in items {
        if let (Some(tenant), Some(key)) = (businesses.iter().find(|t| belongs_to(item, t)), Key::of(item)) {
            found.entry(tenant.clone()).or_default().push(key);
        }
    }
    found
}

/// The hourly checks' pass over the table: where the scan got to, and when this pass began.
/// A check ends once a whole pass that began after its `until` has found the business gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    pub after: Option<Item>,
    pub began_at: OffsetDateTime,
}

const PASS: &str = "~PASS";

pub async fn pass(table: &dyn Table) -> Result<Option<Pass>, TableError> {
    let Some(item) = table.get(&Key::new(CHECKS, PASS)).await? else { return Ok(None) };
    let began_at = item
        .get("began_at")
        .and_then(Value::as_i64)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    let Some(began_at) = began_at else { return Ok(None) };
    let after = match item.get("after").and_then(Value::as_str) {
        Some(after) => {
            Some(serde_json::from_str::<Item>(after).map_err(|e| TableError::Invalid(e.to_string()))?)
        }
        None => None,
    };
    Ok(Some(Pass { after, began_at }))
}

/// Keeps the pass (`None`: no check is left, and the pass goes).
pub async fn save_pass(table: &dyn Table, pass: Option<&Pass>) -> Result<(), TableError> {
    let key = Key::new(CHECKS, PASS);
    let Some(pass) = pass else { return table.delete(&key, None).await.map(|_| ()) };
    let mut item = Item::from_iter([
        ("pk".to_owned(), Value::from(key.pk)),
        ("sk".to_owned(), Value::from(key.sk)),
        ("began_at".to_owned(), Value::from(pass.began_at.unix_timestamp())),
    ]);
    if let Some(after) = &pass.after {
        item.insert("after".into(), Value::from(Value::Object(after.clone()).to_string()));
    }
    table.put(item, None).await
}

/// The item type an item of the business counts as in the proof: its key's second part
/// (`{tenant}#CONTACT#...` a contact), or the global kind.
pub fn kind_of(item: &Item, tenant: &TenantId) -> String {
    let pk = item.get("pk").and_then(Value::as_str).unwrap_or_default();
    let own = format!("{tenant}#");
    let kind = match pk.strip_prefix(&own) {
        Some(rest) => rest.split('#').next().unwrap_or_default(),
        None => pk.split('#').next().unwrap_or_default(),
    };
    kind.to_ascii_lowercase()
}

/// The proof's key: under the global partition, by the request's id.
pub fn proof_key(request_id: &str) -> Key {
    Key::new(PROOFS, request_id)
}

/// What the proof of an account's erasure holds: no personal data, and the business only as
/// a keyed digest (`ErasedIds::subject(tenant, SUBJECT)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    pub request_id: String,
    pub account_hash: String,
    pub received_at: OffsetDateTime,
    pub completed_at: OffsetDateTime,
    pub counts: Value,
}

/// The proof's write, in the transaction that ends the erasure: once only.
pub fn proof_op(proof: &Proof) -> Result<TxOp, TableError> {
    let key = proof_key(&proof.request_id);
    let time = |at: OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| TableError::Invalid(e.to_string()))
    };
    let item = Item::from_iter([
        ("pk".to_owned(), Value::from(key.pk)),
        ("sk".to_owned(), Value::from(key.sk)),
        ("account_hash".to_owned(), Value::from(proof.account_hash.as_str())),
        ("received_at".to_owned(), Value::from(time(proof.received_at)?)),
        ("completed_at".to_owned(), Value::from(time(proof.completed_at)?)),
        ("counts".to_owned(), proof.counts.clone()),
    ]);
    Ok(TxOp::Put { item, condition: Some(Condition::NotExists) })
}

/// Every proof of an account's erasure: request id and account digest.
pub async fn proofs(table: &dyn Table) -> Result<Vec<(String, String)>, TableError> {
    let mut proofs = Vec::new();
    let mut start = None;
    loop {
        let page = table.query(Query::table(PROOFS).limit(500).start_after(start)).await?;
        for item in &page.items {
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
            if let (Some(id), Some(hash)) = (text("sk"), text("account_hash")) {
                proofs.push((id, hash));
            }
        }
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(proofs),
        }
    }
}

/// A completed account erasure the sweep checks again until `until`: the business's id is
/// kept that long (as a contact's erasure check keeps the contact's id), then the check goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCheck {
    pub request_id: String,
    pub tenant: TenantId,
    pub until: OffsetDateTime,
    /// The channel accounts' own ids (phone number, Page, Instagram or TikTok account ids: the
    /// business's, not a person's), which late raw deliveries would name.
    pub external: Vec<String>,
}

pub fn check_op(check: &AccountCheck) -> TxOp {
    let item = Item::from_iter([
        ("pk".to_owned(), Value::from(CHECKS)),
        ("sk".to_owned(), Value::from(check.request_id.as_str())),
        (CHECKED.to_owned(), Value::from(check.tenant.as_str())),
        ("until".to_owned(), Value::from(check.until.unix_timestamp())),
        ("external_ids".to_owned(), Value::from(check.external.clone())),
    ]);
    TxOp::Put { item, condition: None }
}

/// The account erasures still to check.
pub async fn checks(table: &dyn Table) -> Result<Vec<AccountCheck>, TableError> {
    let mut checks = Vec::new();
    let mut start = None;
    loop {
        let page = table.query(Query::table(CHECKS).limit(500).start_after(start)).await?;
        for item in &page.items {
            let text = |name: &str| item.get(name).and_then(Value::as_str);
            let tenant = text(CHECKED).and_then(|t| TenantId::parse(t).ok());
            let until = item
                .get("until")
                .and_then(Value::as_i64)
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
            let external = item
                .get("external_ids")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            if let (Some(request_id), Some(tenant), Some(until)) = (text("sk"), tenant, until) {
                checks.push(AccountCheck { request_id: request_id.to_owned(), tenant, until, external });
            }
        }
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(checks),
        }
    }
}

/// A check done with: its deadline has passed, or the id names a new business by now.
pub async fn end_check(table: &dyn Table, check: &AccountCheck) -> Result<(), TableError> {
    table.delete(&Key::new(CHECKS, check.request_id.as_str()), None).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(value: Value) -> Item {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_business_items_are_its_keys_and_the_global_ones_naming_it() {
        let acme = TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        assert!(belongs_to(&item(json!({"pk": "acme#CONTACT#ct_1", "sk": "CONTACT"})), &acme));
        assert!(belongs_to(&item(json!({"pk": "USER#sub-1", "sk": "acme"})), &acme));
        assert!(belongs_to(
            &item(json!({"pk": "ROUTE#whatsapp#1065", "sk": "ROUTE", "tenant_id": "acme"})),
            &acme
        ));
        assert!(belongs_to(&item(json!({"pk": "SUBSCRIBER#waba", "sk": "acme#ca_1"})), &acme));
        assert!(!belongs_to(&item(json!({"pk": "acme2#CONTACT#ct_1", "sk": "CONTACT"})), &acme));
        assert!(!belongs_to(&item(json!({"pk": "USER#sub-1", "sk": "acme2"})), &acme));
        assert!(belongs_to(
            &item(json!({"pk": "OUTBOX#3", "sk": "t#acme#msg_1", "subject": "acme#ct_1"})),
            &acme
        ));
        assert!(!belongs_to(
            &item(json!({"pk": "ERASED_ACCOUNT_CHECK", "sk": "prq_1", "erased_tenant": "acme"})),
            &acme
        ));
        // Another business's items whose sort key or attributes read like the id.
        let route = TenantId::parse("ROUTE2").unwrap_or_else(|e| panic!("{e}"));
        assert!(!belongs_to(&item(json!({"pk": "beta#CONTACT#ct_1", "sk": "ROUTE2"})), &route));
        let named =
            json!({"pk": "beta#CONTACT#ct_1", "sk": "acme#x", "tenant_id": "acme", "subject": "acme#ct_1"});
        assert!(!belongs_to(&item(named), &acme));
        assert!(belongs_to(&item(json!({"pk": "SECURITY#2026", "sk": "acme"})), &acme));
        assert!(belongs_to(&item(json!({"pk": "TENANTS", "sk": "acme"})), &acme));
        assert!(!belongs_to(&item(json!({"pk": "TENANTSX#TAG#x", "sk": "acme"})), &acme));
        assert!(!belongs_to(&item(json!({"pk": "OUTBOX#3", "sk": "t#acme2#msg_1"})), &acme));
        assert_eq!(kind_of(&item(json!({"pk": "acme#CONTACT#ct_1"})), &acme), "contact");
        assert_eq!(kind_of(&item(json!({"pk": "ROUTE#whatsapp#1"})), &acme), "route");
    }
}
