//! The channel routes: parse, show the token reaches the account, act through the repository,
//! answer. Authentication, permission, idempotency and audit are the dispatcher's
//! (gestor_shared::http::service); the audit entry names the body's fields, never their values.

use gestor_shared::crypto::Secret;
use gestor_shared::graph::{GraphError, PhoneNumber};
use gestor_shared::http::PageQuery;
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Page, Reply};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::repo::channels::{Channel, ChannelAccount, ChannelStatus, Connection};

use crate::Channels;
use crate::input::{Connect, MAX_DISPLAY_NAME, Signup};

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    ChannelAccount,
    ChannelStatus,
    ChannelAccountPage,
    ConnectRequest,
    EmbeddedSignupRequest,
    crate::templates::TemplateList,
    crate::templates::TemplateView,
    gestor_shared::repo::templates::Template,
    Problem,
    FieldError
)))]
pub struct ApiDoc;

/// A page of channel accounts (the alias lets the OpenAPI macros name it).
pub type ChannelAccountPage = Page<ChannelAccount>;

/// The body of `POST /v1/channels` (documentation only: parsing is `input::Connect`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ConnectRequest {
    #[schema(schema_with = Channel::schema)]
    kind: String,
    /// WhatsApp: the phone number id; Messenger: the Page id; Instagram: the Instagram account
    /// id; TikTok: the business account's open id (`user_openid` in its webhooks).
    external_id: String,
    /// A token of the account, shown to reach it through the channel's API before anything is
    /// stored. Kept encrypted; never answered.
    #[schema(write_only)]
    access_token: String,
    /// Defaults to the name the channel's API gives the account.
    display_name: Option<String>,
}

/// The body of `POST /v1/channels/embedded-signup` (documentation only: parsing is
/// `input::Signup`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EmbeddedSignupRequest {
    /// `whatsapp`: Embedded Signup connects WhatsApp numbers.
    kind: String,
    /// The code Embedded Signup gave the frontend; exchanged once for the business's token.
    #[schema(write_only)]
    code: String,
    /// From Embedded Signup's session info; when absent, the WhatsApp Business Account's only
    /// phone number.
    phone_number_id: Option<String>,
    /// From Embedded Signup's session info; when absent, the newest account the token was
    /// granted.
    waba_id: Option<String>,
    display_name: Option<String>,
}

const UNREACHABLE: &str = "the token cannot reach this account";
/// What a connection whose token is not the account's own is told.
const NOT_CONTROLLED: &str = "the token does not control this account: a Page's own token, or a WhatsApp token granted this number's business account";

fn channel_id(call: &Call) -> Result<ChannelAccountId, ApiError> {
    // A malformed id cannot name an account of this tenant: 404 like any unknown id.
    ChannelAccountId::parse(call.path_param("id")?).map_err(|_| ApiError::NotFound)
}

/// A failure of the channel's API as the client sees it: a refusal is the request's fault
/// (422 with `refusal`), the rest is worth retrying (503).
fn graph_error(refusal: &'static str) -> impl Fn(GraphError) -> ApiError {
    move |error| match error {
        GraphError::Refused { status, code } => {
            tracing::info!(status, code, "the channel's API refused");
            ApiError::Unprocessable(refusal.into())
        }
        GraphError::Invalid(why) => {
            tracing::info!(why, "not sent to the channel's API");
            ApiError::Unprocessable(refusal.into())
        }
        GraphError::Unavailable(cause) | GraphError::Unexpected(cause) => ApiError::channel_api(cause),
        GraphError::Setup(cause) => ApiError::Internal(cause),
    }
}

/// A name from the channel's API, made fit to show.
fn clean_name(name: &str) -> Option<String> {
    let name: String = name.chars().filter(|c| !c.is_control()).take(MAX_DISPLAY_NAME).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Verifies the token reaches the account, then routes and stores it. 201 for a connection,
/// 200 when this tenant had it connected already (its token and name replaced).
async fn connect_verified(
    app: &Channels,
    caller: &Caller,
    kind: Channel,
    external_id: &str,
    token: &Secret,
    display_name: Option<String>,
) -> Result<Reply, ApiError> {
    let control =
        app.graph.prove_control(kind, external_id, token).await.map_err(graph_error(NOT_CONTROLLED))?;
    let name = display_name
        .or_else(|| control.info.name.as_deref().and_then(clean_name))
        .unwrap_or_else(|| external_id.to_owned());
    // The Graph object whose webhooks the account's come through, noted with the account.
    let through = match kind {
        Channel::Whatsapp | Channel::Instagram => control.business_account_id.as_deref(),
        Channel::Messenger => Some(external_id),
        Channel::Tiktok => None,
    };
    let connection = app
        .repo
        .connect(&caller.tenant, kind, external_id, &name, token, &app.cipher, through)
        .await
        .map_err(ApiError::from)?;
    let (mut account, created) = match connection {
        Connection::Connected(account) => (account, true),
        Connection::Refreshed(account) => (account, false),
    };
    // A number's templates and template webhooks are its business account's.
    if let (Channel::Whatsapp, Some(waba)) = (kind, &control.business_account_id) {
        app.repo.set_business_account(&caller.tenant, &account.id, waba).await?;
        account.business_account_id = Some(waba.clone());
    }
    if let (Channel::Instagram, Some(page)) = (kind, &control.business_account_id) {
        app.repo.set_page(&caller.tenant, &account.id, page).await?;
        account.page_id = Some(page.clone());
    }
    if let Some(through) = through {
        // Every connection subscribes the app (Meta's subscription is idempotent), after its
        // note is written: the app may have left with the last account, or be leaving with a
        // neighbour right now, whose deactivation then sees this note and subscribes it back.
        // Two first connections at once both subscribe. A failure is logged, not the
        // connection's (the channel answers later).
        let subscribed = match kind {
            Channel::Whatsapp => app.graph.subscribe_app(through, token).await,
            _ => app.graph.subscribe_page(through, token).await,
        };
        if let Err(e) = subscribed {
            tracing::warn!(cause = %e, "the app was not subscribed to the account's webhooks");
        }
    }
    let reply = if created { Reply::created(&account)? } else { Reply::ok(&account)? };
    Ok(reply.resource(account.id.as_str()))
}

/// List the business's channel accounts, active and inactive, newest first.
#[utoipa::path(
    get, path = "/v1/channels", tag = "channels",
    params(
        PageQuery,
    ),
    responses(
        (status = 200, body = ChannelAccountPage),
    )
)]
pub async fn list(app: &Channels, call: Call) -> Result<Reply, ApiError> {
    let tenant = &call.caller()?.tenant;
    let page =
        app.core.page(&call, "channels", async |limit, start| app.repo.list(tenant, limit, start).await);
    Reply::ok(&page.await?)
}

/// Connect a channel account with its access token (owner, admin). The token must control
/// the account, as `debug_token` shows: a Page's own token for Messenger (type `PAGE`, the
/// Page's `profile_id`) and for Instagram (the Page whose `instagram_business_account` is the
/// account); for WhatsApp, a token granted the number's business account for both messaging
/// and management, under which the number is listed (its id is kept); TikTok's
/// `business/get` for TikTok. One account belongs to one business at most: 409 when another holds it.
/// Connecting again an account this business holds replaces its token (200); one it
/// deactivated is connected again under the same id (201).
#[utoipa::path(
    post, path = "/v1/channels", tag = "channels",
    request_body = ConnectRequest,
    responses(
        (status = 201, body = ChannelAccount, description = "Connected"),
        (status = 200, body = ChannelAccount, description = "Already connected to this business: token and name replaced"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Connected to another business"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "The token cannot reach the account"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "The channel's API failed or timed out"),
    )
)]
pub async fn connect(app: &Channels, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let input = Connect::parse(call.json_object()?)?;
    connect_verified(app, caller, input.kind, &input.external_id, &input.access_token, input.display_name)
        .await
}

/// Connect a WhatsApp number through Meta's Embedded Signup (owner, admin): the code is
/// exchanged for the business's token, the app is subscribed to the WhatsApp Business
/// Account's webhooks, then the number is connected as by `POST /v1/channels`.
#[utoipa::path(
    post, path = "/v1/channels/embedded-signup", tag = "channels",
    request_body = EmbeddedSignupRequest,
    responses(
        (status = 201, body = ChannelAccount, description = "Connected"),
        (status = 200, body = ChannelAccount, description = "Already connected to this business: token replaced"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Meta refused the code, the subscription or the number"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn embedded_signup(app: &Channels, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let input = Signup::parse(call.json_object()?)?;
    // Meta's code works once: a signup that failed after the exchange resumes from the token
    // it was exchanged for when the same code comes again.
    let digest = gestor_shared::repo::idempotency::fingerprint(input.code.expose().as_bytes());
    let code_digest = &digest[..32];
    let now = time::OffsetDateTime::now_utc();
    let token = match app.repo.signup_token(&caller.tenant, code_digest, &app.cipher, now).await? {
        Some(token) => token,
        None => {
            let token = app
                .graph
                .exchange_code(&input.code)
                .await
                .map_err(graph_error("Meta refused the signup code: it expired or was used already"))?;
            app.repo.keep_signup_token(&caller.tenant, code_digest, &token, &app.cipher, now).await?;
            token
        }
    };
    let waba_id = match input.waba_id {
        Some(id) => id,
        None => {
            let shared = app.graph.shared_wabas(&token).await.map_err(graph_error(UNREACHABLE))?;
            // Meta lists the most recently shared account first.
            shared.into_iter().next().ok_or_else(|| {
                ApiError::Unprocessable("the signup shared no WhatsApp Business Account".into())
            })?
        }
    };
    let numbers = app.graph.phone_numbers(&waba_id, &token).await.map_err(graph_error(UNREACHABLE))?;
    let phone_number_id = match input.phone_number_id {
        // The number must be the business account's: its templates and webhooks are.
        Some(id) if numbers.iter().any(|n| n.id == id) => id,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "phone_number_id",
                "is not a phone number of that WhatsApp Business Account",
            ));
        }
        None => only_number(numbers)?,
    };
    app.graph
        .subscribe_app(&waba_id, &token)
        .await
        .map_err(graph_error("Meta refused to subscribe the app to this WhatsApp account's webhooks"))?;
    // Subscribed again once the number is noted (`connect_verified`): a neighbour leaving in
    // between may have unsubscribed the app.
    let reply =
        connect_verified(app, caller, Channel::Whatsapp, &phone_number_id, &token, input.display_name)
            .await?;
    if let Err(e) = app.repo.forget_signup(&caller.tenant, code_digest).await {
        tracing::warn!(cause = %e, "a finished signup's token was not forgotten (it expires within the hour)");
    }
    Ok(reply)
}

fn only_number(numbers: Vec<PhoneNumber>) -> Result<String, ApiError> {
    match <[PhoneNumber; 1]>::try_from(numbers) {
        Ok([number]) => Ok(number.id),
        Err(numbers) if numbers.is_empty() => {
            Err(ApiError::Unprocessable("the WhatsApp Business Account has no phone number yet".into()))
        }
        Err(_) => Err(ApiError::invalid_field(
            "phone_number_id",
            "is required: the WhatsApp Business Account has several phone numbers",
        )),
    }
}

/// Get a channel account.
#[utoipa::path(
    get, path = "/v1/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "ch_...")),
    responses(
        (status = 200, body = ChannelAccount),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(app: &Channels, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = channel_id(&call)?;
    let account = app.repo.get(&caller.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    Reply::ok(&account)
}

/// Deactivate a channel account (owner, admin): its token is deleted, it is marked inactive,
/// later webhooks for it are dropped, and another business may connect it. Repeating it
/// answers 204 again.
#[utoipa::path(
    delete, path = "/v1/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "ch_...")),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deactivate(app: &Channels, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = channel_id(&call)?;
    let changed =
        gestor_shared::deactivation::deactivate(&app.repo, &app.graph, &app.cipher, &caller.tenant, &id)
            .await
            .map_err(ApiError::from)?;
    let Some(gestor_shared::deactivation::Deactivated { changed, .. }) = changed else {
        return Err(ApiError::NotFound);
    };
    Ok(Reply::no_content().changed(changed))
}
