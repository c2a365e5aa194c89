//! `GET /v1/templates`: the message templates a WhatsApp reply may use, per WhatsApp Business
//! Account. They are synced from the Graph API when never synced or older than
//! [`SYNC_EVERY`], and kept current between syncs by `message_template_status_update`
//! webhooks (the inbound worker). A number connected by hand learns its business account
//! here, from the token's granted accounts and their phone numbers.

use gestor_shared::crypto::Secret;
use gestor_shared::domain::TenantId;
use gestor_shared::graph::GraphError;
use gestor_shared::http::{ApiError, Call, Reply};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::repo::channels::{Channel, ChannelAccount, ChannelStatus};
use gestor_shared::repo::templates::Template;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Channels;

/// How old a sync may be before a listing syncs again.
const SYNC_EVERY: time::Duration = time::Duration::hours(6);
/// Accounts a listing looks at (a business has a handful of numbers).
const MOST_ACCOUNTS: usize = 100;

/// A template, and the business account whose it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    /// The WhatsApp Business Account.
    business_account_id: String,
    #[serde(flatten)]
    template: Template,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    items: Vec<TemplateView>,
}

/// The message templates a WhatsApp reply may use (`{"template": {"name", "language",
/// "parameters"}}`): `APPROVED` ones unless `status=all`. `channel_account_id` limits them to
/// one number's business account.
#[utoipa::path(
    get, path = "/v1/templates", tag = "channels",
    params(
        ("channel_account_id" = Option<String>, Query, description = "ch_... of a WhatsApp number"),
        ("status" = Option<String>, Query, description = "`all` for every status; default `APPROVED` only"),
    ),
    responses(
        (status = 200, body = TemplateList),
        (status = 503, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "Never synced, and the Graph API is unreachable"),
    )
)]
pub async fn list(app: &Channels, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let every_status = match call.query_param("status") {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("all") => true,
        Some(s) if s.eq_ignore_ascii_case("approved") => false,
        Some(_) => return Err(ApiError::invalid_field("status", "must be `all` or `APPROVED`")),
    };
    let accounts = match call.query_param("channel_account_id") {
        Some(raw) => {
            let not_found =
                || ApiError::invalid_field("channel_account_id", "is not a WhatsApp number of this business");
            let id = ChannelAccountId::parse(raw).map_err(|_| not_found())?;
            let account = app.repo.get(&caller.tenant, &id).await?.ok_or_else(not_found)?;
            if account.kind != Channel::Whatsapp {
                return Err(not_found());
            }
            vec![account]
        }
        None => {
            let (accounts, _) = app.repo.list(&caller.tenant, MOST_ACCOUNTS, None).await?;
            accounts.into_iter().filter(|a| a.kind == Channel::Whatsapp).collect()
        }
    };
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut unreachable = None;
    for account in accounts.into_iter().filter(|a| a.status == ChannelStatus::Active) {
        match templates_of(app, &caller.tenant, &account, &mut seen).await {
            Ok(Some((waba, templates))) => items.extend(
                templates
                    .into_iter()
                    .filter(|t| every_status || t.status == "APPROVED")
                    .map(|template| TemplateView { business_account_id: waba.clone(), template }),
            ),
            Ok(None) => {}
            Err(e) => unreachable = Some(e),
        }
    }
    if let (true, Some(e)) = (items.is_empty(), unreachable) {
        return Err(e);
    }
    items.sort_by(|a, b| {
        (&a.template.name, &a.template.language).cmp(&(&b.template.name, &b.template.language))
    });
    Reply::ok(&TemplateList { items })
}

/// The templates of the account's business account (synced first when due); `None` when the
/// business account is unknown or listed already.
async fn templates_of(
    app: &Channels,
    tenant: &TenantId,
    account: &ChannelAccount,
    seen: &mut std::collections::BTreeSet<String>,
) -> Result<Option<(String, Vec<Template>)>, ApiError> {
    // The token only when the Graph API is to be asked: a listing between syncs reads the
    // templates alone.
    let waba = match &account.business_account_id {
        Some(waba) => waba.clone(),
        None => {
            let Some(token) = app.repo.access_token(tenant, &account.id, &app.cipher).await? else {
                return Ok(None);
            };
            match business_account(app, account, &token).await? {
                Some(waba) => {
                    app.repo.set_business_account(tenant, &account.id, &waba).await?;
                    waba
                }
                None => return Ok(None),
            }
        }
    };
    if !seen.insert(waba.clone()) {
        return Ok(None);
    }
    let now = OffsetDateTime::now_utc();
    let due = app.templates.synced_at(tenant, &waba).await?.is_none_or(|at| now - at >= SYNC_EVERY);
    let token = match due {
        true => app.repo.access_token(tenant, &account.id, &app.cipher).await?,
        false => None,
    };
    if let Some(token) = &token {
        if account.business_account_id.is_some() {
            // The route of the business account's webhooks may have been left by a number
            // since deactivated: claim it again while it is free.
            app.repo.set_business_account(tenant, &account.id, &waba).await?;
        }
        match app.graph.message_templates(&waba, token).await {
            Ok(fresh) => app.templates.replace(tenant, &waba, &fresh, now).await?,
            Err(e) => {
                let stored = app.templates.list(tenant, &waba).await?;
                if stored.is_empty() {
                    return Err(sync_error(e));
                }
                // What the last sync and the webhooks since left stays good to show.
                tracing::warn!(cause = %e, "templates not synced; answering the stored ones");
                return Ok(Some((waba, stored)));
            }
        }
    }
    Ok(Some((waba.clone(), app.templates.list(tenant, &waba).await?)))
}

/// The business account whose phone numbers include the account's number, among those the
/// token was granted.
async fn business_account(
    app: &Channels,
    account: &ChannelAccount,
    token: &Secret,
) -> Result<Option<String>, ApiError> {
    let granted = match app.graph.shared_wabas(token).await {
        Ok(granted) => granted,
        // No app credentials (a laptop), or a token Meta will not describe: nothing to list.
        Err(GraphError::Setup(_) | GraphError::Refused { .. } | GraphError::Invalid(_)) => return Ok(None),
        Err(e) => return Err(sync_error(e)),
    };
    for waba in granted {
        let numbers = app.graph.phone_numbers(&waba, token).await.map_err(sync_error)?;
        if numbers.iter().any(|n| n.id == account.external_id) {
            return Ok(Some(waba));
        }
    }
    Ok(None)
}

fn sync_error(e: GraphError) -> ApiError {
    match e {
        GraphError::Unavailable(cause) | GraphError::Unexpected(cause) => ApiError::channel_api(cause),
        other => ApiError::Unprocessable(format!("the Graph API refused the templates request: {other}")),
    }
}
