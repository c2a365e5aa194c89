//! What a contact opposed (ARCO opposition, `restrictions` on the contact) holds back from
//! what the business sends: a marketing template to a contact who opposed marketing, or all
//! processing, is refused before anything is written. Answering the customer stays possible:
//! that is the service they asked for.

use gestor_shared::domain::TenantId;
use gestor_shared::http::ApiError;
use gestor_shared::ids::ConversationId;
use gestor_shared::repo::opposition::template_refusal;

use crate::Conversations;

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
    // Missing: the reply's own path answers 404.
    let Some(conversation) = app.conversations.get(tenant, conversation_id).await? else { return Ok(()) };
    let refusal = template_refusal(
        &app.core.table,
        tenant,
        &conversation.contact_id,
        &conversation.channel_account_id,
        name,
        language,
    )
    .await?;
    match refusal {
        Some(why) => Err(ApiError::Unprocessable(why.into())),
        None => Ok(()),
    }
}
