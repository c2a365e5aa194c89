//! What a contact opposed (ARCO opposition: `restrictions` on the contact) rules out of what
//! the business sends: a marketing template to a contact who opposed marketing, or all
//! processing. Checked when a reply is written and again when it is sent, since an
//! opposition can be carried out while a reply waits in the queue.

use std::sync::Arc;

use super::channels::ChannelRepo;
use super::contacts::ContactRepo;
use super::templates::TemplateRepo;
use crate::domain::TenantId;
use crate::ids::{ChannelAccountId, ContactId};
use crate::ports::{Table, TableError};

/// The restrictions that rule out marketing.
pub const NO_MARKETING: [&str; 2] = ["marketing", "all_processing"];

/// Why the template `name` (`language`) may not go to the contact, if it may not: it is
/// marketing, or its category is not known (never synced), and the contact opposed
/// marketing. A contact who opposed nothing costs one read.
pub async fn template_refusal(
    table: &Arc<dyn Table>,
    tenant: &TenantId,
    contact_id: &ContactId,
    channel_account_id: &ChannelAccountId,
    name: &str,
    language: &str,
) -> Result<Option<&'static str>, TableError> {
    let Some(contact) = ContactRepo::new(table.clone()).get(tenant, contact_id).await? else {
        return Ok(None);
    };
    if !contact.restrictions.iter().any(|r| NO_MARKETING.contains(&r.as_str())) {
        return Ok(None);
    }
    let account = ChannelRepo::new(table.clone()).get(tenant, channel_account_id).await?;
    let category = match account.and_then(|a| a.business_account_id) {
        Some(waba) => TemplateRepo::new(table.clone())
            .get(tenant, &waba, name, language)
            .await?
            .and_then(|t| t.category),
        None => None,
    };
    Ok(match category.as_deref() {
        Some("MARKETING") => {
            Some("the contact opposed marketing: a marketing template cannot be sent to them")
        }
        Some(_) => None,
        None => Some(
            "the contact opposed marketing, and this template's category is not known: list the templates (GET /v1/templates) so it is synced",
        ),
    })
}
