//! What a contact opposed (ARCO opposition, `restrictions` on the contact) holds back from
//! what the business sends: a marketing template to a contact who opposed marketing, or all
//! processing, is refused before anything is written. Answering the customer stays possible:
//! that is the service they asked for.

use gestor_shared::domain::TenantId;
use gestor_shared::http::ApiError;
use gestor_shared::ids::ConversationId;
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::repo::contacts::ContactRepo;
use gestor_shared::repo::templates::TemplateRepo;

use crate::Conversations;

/// The restrictions that rule out marketing.
const NO_MARKETING: [&str; 2] = ["marketing", "all_processing"];

/// Refuses the template `name` (`language`) for the conversation's contact when it is, or may
/// be, marketing and the contact opposed it. A template whose category is not known (never
/// synced) is taken for marketing: the refusal says to list the templates first.
pub(crate) async fn check_template(
    app: &Conversations,
    tenant: &TenantId,
    conversation_id: &ConversationId,
    name: &str,
    language: &str,
) -> Result<(), ApiError> {
    // A name or language that is no template's: the reply's own checks answer 400.
    let named = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !language.is_empty();
    if !named {
        return Ok(());
    }
    let table = app.core.table.clone();
    // Missing: the reply's own path answers 404.
    let Some(conversation) = app.conversations.get(tenant, conversation_id).await? else { return Ok(()) };
    let Some(contact) = ContactRepo::new(table.clone()).get(tenant, &conversation.contact_id).await? else {
        return Ok(());
    };
    if !contact.restrictions.iter().any(|r| NO_MARKETING.contains(&r.as_str())) {
        return Ok(());
    }
    let account = ChannelRepo::new(table.clone()).get(tenant, &conversation.channel_account_id).await?;
    let category = match account.and_then(|a| a.business_account_id) {
        Some(waba) => {
            TemplateRepo::new(table).get(tenant, &waba, name, language).await?.and_then(|t| t.category)
        }
        None => None,
    };
    match category.as_deref() {
        Some("MARKETING") => Err(ApiError::Unprocessable(
            "the contact opposed marketing: a marketing template cannot be sent to them".into(),
        )),
        Some(_) => Ok(()),
        None => Err(ApiError::Unprocessable(
            "the contact opposed marketing, and this template's category is not known: list the templates (GET /v1/templates) so it is synced".into(),
        )),
    }
}
