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
    let Some((_, naming)) = GLOBAL.iter().find(|(prefix, _)| pk == *prefix || pk.starts_with(prefix)) else {
        return false;
    };
    match naming {
        Naming::TenantAttribute => text("tenant_id") == tenant.as_str(),
        Naming::SortKey => text("sk") == tenant.as_str(),
        Naming::SortKeyStart => text("sk").starts_with(&own),
        Naming::SortKeyPart => text("sk").split('#').nth(1) == Some(tenant.as_str()),
    }
}

/// Every item of the business, by a scan of the whole table: the only way to find the global
/// items too, and an account is erased rarely.
pub async fn items_of(table: &dyn Table, tenant: &TenantId) -> Result<Vec<Item>, TableError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = table.scan(500, start.take()).await?;
        items.extend(page.items.into_iter().filter(|i| belongs_to(i, tenant)));
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(items),
        }
    }
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
        assert_eq!(kind_of(&item(json!({"pk": "acme#CONTACT#ct_1"})), &acme), "contact");
        assert_eq!(kind_of(&item(json!({"pk": "ROUTE#whatsapp#1"})), &acme), "route");
    }
}
