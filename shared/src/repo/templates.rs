//! A WhatsApp Business Account's message templates, as last synced from the Graph API and
//! changed since by `message_template_status_update` webhooks. Business data: no customer's.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::audit::{Actor, AuditEntry, AuditRepo, Resource, changed_fields};
use super::keys::templates as keys;
use super::{from_item, to_item};
use crate::domain::TenantId;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Item, Query, SortKey, Table, TableError, TxOp, Update};

/// Writes per transaction when a sync replaces the templates.
const PER_TRANSACTION: usize = 25;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Template {
    pub name: String,
    /// The template's language code (`es_MX`): a reply names it with the name.
    pub language: String,
    /// Meta's status: `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED` ...
    pub status: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// Meta's id of the template.
    pub id: Option<String>,
    /// The text of its body, with `{{1}}`-style placeholders.
    pub body: Option<String>,
    /// How many body parameters a reply must give.
    pub parameters: u32,
    /// Why Meta rejected or paused it, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone)]
pub struct TemplateRepo {
    table: Arc<dyn Table>,
}

impl TemplateRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// When the business account's templates were last synced; `None` when never, or when
    /// a webhook named a template the sync did not know.
    pub async fn synced_at(
        &self,
        tenant: &TenantId,
        waba_id: &str,
    ) -> Result<Option<OffsetDateTime>, TableError> {
        let item = self.table.get(&keys::synced(tenant, waba_id)).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("at"))
            .and_then(Value::as_str)
            .and_then(|at| OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()))
    }

    /// Every template of the business account, by name and language.
    pub async fn list(&self, tenant: &TenantId, waba_id: &str) -> Result<Vec<Template>, TableError> {
        let mut templates = Vec::new();
        let mut after = None;
        loop {
            let query = Query::table(keys::partition(tenant, waba_id))
                .sort(SortKey::BeginsWith(keys::TEMPLATE_PREFIX.into()))
                .limit(100)
                .start_after(after);
            let page = self.table.query(query).await?;
            for item in page.items {
                templates.push(from_item(item)?);
            }
            match page.last_key {
                Some(last) => after = Some(last),
                None => return Ok(templates),
            }
        }
    }

    /// One template as last synced (or moved by a webhook since).
    pub async fn get(
        &self,
        tenant: &TenantId,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<Template>, TableError> {
        match self.table.get(&keys::template(tenant, waba_id, name, language)).await? {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// Replaces the stored templates with `templates` (a sync), then records the sync. What
    /// changed (new or different templates written, vanished ones deleted) is logged as one
    /// `template.sync` entry in the first of its transactions, so no stored change goes
    /// unlogged; a sync that changes nothing writes only its marker.
    pub async fn replace(
        &self,
        tenant: &TenantId,
        waba_id: &str,
        templates: &[Template],
        at: OffsetDateTime,
    ) -> Result<(), TableError> {
        let stored = self.list(tenant, waba_id).await?;
        let kept: std::collections::HashSet<(&str, &str)> =
            templates.iter().map(|t| (t.name.as_str(), t.language.as_str())).collect();
        let mut ops = templates
            .iter()
            .filter(|t| !stored.contains(t))
            .map(|t| Ok(TxOp::Put { item: item(tenant, waba_id, t)?, condition: None }))
            .collect::<Result<Vec<_>, TableError>>()?;
        let written = !ops.is_empty();
        let gone: Vec<TxOp> = stored
            .iter()
            .filter(|t| !kept.contains(&(t.name.as_str(), t.language.as_str())))
            .map(|t| TxOp::Delete {
                key: keys::template(tenant, waba_id, &t.name, &t.language),
                condition: None,
            })
            .collect();
        let removed = !gone.is_empty();
        ops.extend(gone);
        if !ops.is_empty() {
            let mut fields = Vec::new();
            if written {
                fields.push("templates");
            }
            if removed {
                fields.push("removed");
            }
            let synced =
                AuditEntry::by(Actor::system("channels"), "template.sync", business(waba_id), &fields);
            ops.insert(0, AuditRepo::record_op(tenant, &synced)?);
            for chunk in ops.chunks(PER_TRANSACTION) {
                self.table.transact(chunk.to_vec()).await?;
            }
        }
        let key = keys::synced(tenant, waba_id);
        let mut marker = Item::new();
        marker.insert(PK.into(), key.pk.into());
        marker.insert(SK.into(), key.sk.into());
        marker.insert("at".into(), super::conversations::rfc3339(at)?.into());
        self.table.put(marker, None).await
    }

    /// A status webhook: the template's new status. A template the last sync did not know
    /// makes the next listing sync again. `false` when it was unknown; a redelivery that
    /// changes nothing writes nothing.
    pub async fn set_status(
        &self,
        tenant: &TenantId,
        waba_id: &str,
        name: &str,
        language: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<bool, TableError> {
        let key = keys::template(tenant, waba_id, name, language);
        let Some(current) = self.table.get(&key).await? else {
            self.table.delete(&keys::synced(tenant, waba_id), None).await?;
            return Ok(false);
        };
        let text = |name: &str| current.get(name).and_then(Value::as_str);
        let mut update = Update::default();
        if text("status") != Some(status) {
            update = update.set("status", status);
        }
        match reason {
            Some(reason) if text("reason") != Some(reason) => update = update.set("reason", reason),
            None if text("reason").is_some() => update.remove.push("reason".into()),
            _ => {}
        }
        let fields = changed_fields(&update, &[]);
        if fields.is_empty() {
            return Ok(true);
        }
        let resource = Resource { kind: "template".into(), id: Some(format!("{waba_id}/{name}/{language}")) };
        let logged = AuditEntry::by(Actor::channel(waba_id), "template.update", resource, &fields);
        let ops = vec![
            TxOp::Update { key, update, condition: Some(Condition::Exists) },
            AuditRepo::record_op(tenant, &logged)?,
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            // Gone since it was read (a sync removed it): the next listing syncs.
            Err(TableError::TransactionCanceled { failed }) if failed.first().copied().unwrap_or(false) => {
                self.table.delete(&keys::synced(tenant, waba_id), None).await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// The business account whose templates a sync replaced, as its audit entry names it.
fn business(waba_id: &str) -> Resource {
    Resource { kind: "whatsapp_business_account".into(), id: Some(waba_id.to_owned()) }
}

fn item(tenant: &TenantId, waba_id: &str, template: &Template) -> Result<Item, TableError> {
    let mut item = to_item(template)?;
    let key = keys::template(tenant, waba_id, &template.name, &template.language);
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    Ok(item)
}
