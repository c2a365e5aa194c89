//! Filing and reading privacy requests. A request names its subject as the API does — a
//! contact (by id, phone or email), the caller (`{"member": "me"}`) or the whole account —
//! and is resolved to the subject's id when filed. Contacts' requests need `privacy.others`;
//! the account's, an owner. A caller without `privacy.others` sees the requests they filed
//! or that are about them.

use gestor_shared::domain::{Email, Phone, Role};
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Page, PageQuery, Permission, Reply};
use gestor_shared::ids::{ChannelAccountId, ContactId, MemberId, PrivacyRequestId};
use gestor_shared::ports::OutgoingMessage;
use gestor_shared::ports::{Item, TxOp};
use gestor_shared::repo::account_erasure;
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::repo::contacts::{Contact, ContactRepo};
use gestor_shared::repo::erasure;
use gestor_shared::repo::member_erasure;
use gestor_shared::repo::members::{MemberRepo, RosterError};
use gestor_shared::repo::partial_erasure::{self, Part};
use gestor_shared::repo::privacy::{Filed, Kind, PrivacyRepo, PrivacyRequest, Status, Subject};
use gestor_shared::repo::tenants;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::Privacy;
use crate::worker::{RECTIFIABLE, RESTRICTIONS};

/// The request body's shape, for the OpenAPI document.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NewPrivacyRequest {
    /// `access`, `rectification`, `cancellation`, `opposition`, `portability` or `deactivation`.
    kind: String,
    /// `{"contact_id"}`, `{"phone"}`, `{"email"}`, `{"member": "me"}` or `{"account": true}`.
    #[schema(value_type = Object)]
    subject: Value,
    /// Opposition `{"restrictions": [...]}`; rectification `{"fields": {...}}`; deactivation
    /// `{"channel_ids": [...]}`; a contact's partial cancellation one of `{"conversation_ids"}`,
    /// `{"message_ids"}`, `{"media_message_ids"}` or `{"fields"}` (a list each).
    #[schema(value_type = Option<Object>)]
    details: Option<Value>,
}

/// A page of requests (the alias lets the OpenAPI macros name it).
pub type PrivacyRequestPage = Page<PrivacyRequest>;

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    PrivacyRequest,
    PrivacyRequestPage,
    NewPrivacyRequest,
    Subject,
    Kind,
    Status
)))]
pub struct ApiDoc;

fn kind_of(raw: Option<&Value>) -> Result<Kind, ApiError> {
    let kind = raw.cloned().and_then(|v| serde_json::from_value::<Kind>(v).ok());
    kind.ok_or_else(|| {
        ApiError::invalid_field(
            "kind",
            "must be access, rectification, cancellation, opposition, portability or deactivation",
        )
    })
}

/// The subject as named, resolved and checked against what the caller may file, with the
/// contact when it is one.
async fn subject_of(
    app: &Privacy,
    caller: &Caller,
    kind: Kind,
    raw: Option<&Value>,
) -> Result<(Subject, Option<Contact>), ApiError> {
    let Some(Value::Object(named)) = raw else {
        return Err(ApiError::invalid_field("subject", "must name a contact, the caller or the account"));
    };
    let text = |name: &str| named.get(name).and_then(Value::as_str);
    let ways = ["contact_id", "phone", "email", "member", "account"];
    if let Some(unknown) = named.keys().find(|k| !ways.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(format!("subject.{unknown}"), "is not a way to name a subject"));
    }
    if named.len() != 1 {
        return Err(ApiError::invalid_field(
            "subject",
            "must name exactly one: contact_id, phone, email, member or account",
        ));
    }
    if named.get("member").is_some() {
        if text("member") != Some("me") {
            return Err(ApiError::invalid_field(
                "subject.member",
                "must be \"me\": a member files their own",
            ));
        }
        return Ok((Subject { member_id: Some(caller.member.id.clone()), ..Subject::default() }, None));
    }
    if named.get("account").is_some() {
        if named.get("account") != Some(&Value::Bool(true)) {
            return Err(ApiError::invalid_field("subject.account", "must be true"));
        }
        if caller.role() != Role::Owner {
            return Err(ApiError::Forbidden("only an owner files a request for the whole account".into()));
        }
        return Ok((Subject { account: true, ..Subject::default() }, None));
    }
    caller.require(Permission::PrivacyOthers)?;
    let contacts = ContactRepo::new(app.core.table.clone());
    let tenant = &caller.tenant;
    let id = if let Some(raw) = text("contact_id") {
        let id = ContactId::parse(raw)
            .map_err(|_| ApiError::invalid_field("subject.contact_id", "must be ct_..."))?;
        if let Some(contact) = contacts.get(tenant, &id).await? {
            return Ok((Subject { contact_id: Some(id), ..Subject::default() }, Some(contact)));
        }
        // Hidden by a cancellation under way: a second one is answered with that one.
        if kind == Kind::Cancellation
            && erasure::being_erased(app.core.table.as_ref(), tenant, id.as_str()).await?
        {
            return Ok((Subject { contact_id: Some(id), ..Subject::default() }, None));
        }
        None
    } else if let Some(raw) = text("phone") {
        let phone = Phone::parse(raw).map_err(|e| ApiError::invalid_field("subject.phone", e.to_string()))?;
        contacts.id_by_phone(tenant, &phone).await?
    } else if let Some(raw) = text("email") {
        let email = Email::parse(raw).map_err(|e| ApiError::invalid_field("subject.email", e.to_string()))?;
        contacts.id_by_email(tenant, &email).await?
    } else {
        return Err(ApiError::invalid_field(
            "subject",
            "must have contact_id, phone, email, member or account",
        ));
    };
    let contact = match id {
        Some(id) => contacts.get(tenant, &id).await?,
        None => None,
    };
    let contact = contact.ok_or(ApiError::NotFound)?;
    Ok((Subject { contact_id: Some(contact.id.clone()), ..Subject::default() }, Some(contact)))
}

/// What the kind takes, checked (with the items a partial cancellation covers, for the
/// filing to hide); the kinds not carried out yet are refused.
async fn details_of(
    app: &Privacy,
    caller: &Caller,
    kind: Kind,
    subject: &Subject,
    raw: Option<&Value>,
) -> Result<(Value, Vec<Item>), ApiError> {
    if kind == Kind::Deactivation && subject.account {
        return Ok((channels_of(app, caller, raw).await?, Vec::new()));
    }
    if let (Kind::Cancellation, Some(contact)) = (kind, &subject.contact_id) {
        return match raw {
            None | Some(Value::Null) => Ok((json!({}), Vec::new())),
            Some(Value::Object(d)) if d.is_empty() => Ok((json!({}), Vec::new())),
            Some(Value::Object(d)) => {
                crate::parts::checked(app.core.table.as_ref(), &caller.tenant, contact.as_str(), d).await
            }
            Some(_) => Err(ApiError::invalid_field("details", "must be an object")),
        };
    }
    if kind == Kind::Cancellation && (subject.member_id.is_some() || subject.account) {
        return match raw {
            None | Some(Value::Null) => Ok((json!({}), Vec::new())),
            Some(Value::Object(d)) if d.is_empty() => Ok((json!({}), Vec::new())),
            Some(_) => Err(ApiError::invalid_field(
                "details",
                "a member's or an account's cancellation is whole: it takes no details",
            )),
        };
    }
    details_for(kind, subject, raw).map(|details| (details, Vec::new()))
}

/// A member's rectification: `{"fields": {"name": ...}}`. The sign-in email is the identity
/// provider's, so it is not corrected here.
fn member_fields(raw: Option<&Value>) -> Result<Value, ApiError> {
    let fields = raw.and_then(|d| d.as_object()).filter(|d| d.len() == 1).and_then(|d| d.get("fields"));
    let Some(Value::Object(fields)) = fields else {
        return Err(ApiError::invalid_field("details.fields", "must be an object of the corrected fields"));
    };
    if let Some(other) = fields.keys().find(|k| k.as_str() != "name") {
        return Err(ApiError::invalid_field(
            format!("details.fields.{other}"),
            "a member's rectification corrects the name; the sign-in email is changed with the identity provider",
        ));
    }
    let name = fields.get("name").and_then(Value::as_str).map(str::trim);
    match name.filter(|n| !n.is_empty() && n.chars().count() <= 200 && !n.chars().any(char::is_control)) {
        Some(name) => Ok(json!({"fields": {"name": name}})),
        None => Err(ApiError::invalid_field("details.fields.name", "must be 1 to 200 characters")),
    }
}

/// The details of the kinds that take no items.
fn details_for(kind: Kind, subject: &Subject, raw: Option<&Value>) -> Result<Value, ApiError> {
    if kind == Kind::Rectification && subject.member_id.is_some() {
        return member_fields(raw);
    }
    if !subject.account && matches!(kind, Kind::Access | Kind::Portability) {
        return match raw {
            None | Some(Value::Null) => Ok(json!({})),
            Some(Value::Object(d)) if d.is_empty() => Ok(json!({})),
            Some(_) => {
                Err(ApiError::invalid_field("details", "an export takes no details: it holds everything"))
            }
        };
    }
    if subject.contact_id.is_none() || !matches!(kind, Kind::Opposition | Kind::Rectification) {
        return Err(ApiError::Unprocessable(format!(
            "{} requests for {} are not carried out by this version yet: file it with the business's privacy officer",
            kind.as_str(),
            if subject.contact_id.is_some() { "a contact" } else { "members or the account" }
        )));
    }
    let details = match raw {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err(ApiError::invalid_field("details", "must be an object")),
    };
    let takes = if kind == Kind::Opposition { "restrictions" } else { "fields" };
    if let Some(unknown) = details.keys().find(|k| k.as_str() != takes) {
        return Err(ApiError::invalid_field(
            format!("details.{unknown}"),
            format!("{} takes only {takes}", kind.as_str()),
        ));
    }
    match kind {
        Kind::Opposition => {
            let listed: Option<Vec<&str>> = details
                .get("restrictions")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect());
            let valid = listed.as_ref().is_some_and(|l| {
                !l.is_empty()
                    && l.len() == details["restrictions"].as_array().map_or(0, Vec::len)
                    && l.iter().all(|r| RESTRICTIONS.contains(r))
            });
            if !valid {
                return Err(ApiError::invalid_field(
                    "details.restrictions",
                    "must list marketing, automation, ai or all_processing",
                ));
            }
            Ok(json!({"restrictions": listed}))
        }
        _ => {
            let Some(Value::Object(fields)) = details.get("fields") else {
                return Err(ApiError::invalid_field(
                    "details.fields",
                    "must be an object of the corrected fields",
                ));
            };
            let mut errors = Vec::new();
            for (name, value) in fields {
                let ok = match name.as_str() {
                    // As the contacts API counts a name: characters, once trimmed.
                    "name" => value
                        .as_str()
                        .map(str::trim)
                        .is_some_and(|n| !n.is_empty() && n.chars().count() <= 200),
                    "phones" => value.as_array().is_some_and(|a| {
                        a.len() <= 10 && a.iter().all(|p| p.as_str().is_some_and(|p| Phone::parse(p).is_ok()))
                    }),
                    "emails" => value.as_array().is_some_and(|a| {
                        a.len() <= 10 && a.iter().all(|e| e.as_str().is_some_and(|e| Email::parse(e).is_ok()))
                    }),
                    _ => false,
                };
                if !ok {
                    let message = if RECTIFIABLE.contains(&name.as_str()) {
                        "is not a valid value"
                    } else {
                        "is not a field a rectification corrects (name, phones, emails)"
                    };
                    errors.push(FieldError::new(format!("details.fields.{name}"), message));
                }
            }
            if fields.is_empty() {
                errors.push(FieldError::new("details.fields", "must name at least one field"));
            }
            if !errors.is_empty() {
                return Err(ApiError::invalid_fields(errors));
            }
            Ok(json!({"fields": fields}))
        }
    }
}

/// A deactivation's `{"channel_ids": [...]}`: the business's own channel accounts, each once.
async fn channels_of(app: &Privacy, caller: &Caller, raw: Option<&Value>) -> Result<Value, ApiError> {
    let listed = raw.and_then(|d| d.as_object()).filter(|d| d.keys().all(|k| k == "channel_ids"));
    let ids = listed.and_then(|d| d.get("channel_ids")).and_then(Value::as_array);
    let Some(ids) = ids.filter(|ids| !ids.is_empty() && ids.len() <= 50) else {
        return Err(ApiError::invalid_field(
            "details.channel_ids",
            "must list the channel accounts to deactivate (ca_...)",
        ));
    };
    let channels = ChannelRepo::new(app.core.table.clone());
    let mut named = Vec::new();
    for raw in ids {
        let id = raw.as_str().and_then(|r| ChannelAccountId::parse(r).ok());
        let Some(id) = id else {
            return Err(ApiError::invalid_field(
                "details.channel_ids",
                "must be channel account ids (ca_...)",
            ));
        };
        if channels.get(&caller.tenant, &id).await?.is_none() {
            return Err(ApiError::invalid_field(
                "details.channel_ids",
                format!("{id} is no channel account of the business"),
            ));
        }
        if !named.contains(&id.to_string()) {
            named.push(id.to_string());
        }
    }
    Ok(json!({"channel_ids": named}))
}

/// Whether the caller may see `request`.
pub(crate) fn visible(caller: &Caller, request: &PrivacyRequest) -> bool {
    caller.role().allows(Permission::PrivacyOthers)
        || request.filed_by == caller.member.id
        || request.subject.member_id.as_ref() == Some(&caller.member.id)
}

/// File a privacy request: 202, carried out by the privacy worker. A request of the same
/// kind still open for the same subject is answered instead (202 too: it is the one filed).
#[utoipa::path(
    post, path = "/v1/privacy/requests", tag = "privacy",
    request_body = NewPrivacyRequest,
    responses(
        (status = 202, body = PrivacyRequest, description = "Filed (or the one of this kind still open for the subject); the worker carries it out"),
        (status = 403, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "Not the caller's to file"),
        (status = 404, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "No contact is the subject named"),
        (status = 422, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "A kind this version does not carry out yet"),
    )
)]
pub async fn file(app: &Privacy, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let body = call.json_object()?;
    if let Some(unknown) = body.keys().find(|k| !["kind", "subject", "details"].contains(&k.as_str())) {
        return Err(ApiError::invalid_field(unknown.clone(), "is not a field of a privacy request"));
    }
    let kind = kind_of(body.get("kind"))?;
    let (subject, contact) = subject_of(app, caller, kind, body.get("subject")).await?;
    let (details, part) = details_of(app, caller, kind, &subject, body.get("details")).await?;
    let now = OffsetDateTime::now_utc();
    let request = PrivacyRequest {
        id: PrivacyRequestId::new(),
        kind,
        subject,
        details,
        status: Status::Received,
        filed_by: caller.member.id.clone(),
        received_at: now,
        deadline_at: now + kind.deadline(),
        completed_at: None,
        result: None,
    };
    let partial = Part::of(&request.details).is_some();
    let filed = match kind {
        Kind::Cancellation if request.subject.member_id.is_some() => {
            accept_leaving(app, caller, &request).await?
        }
        Kind::Cancellation if request.subject.account => {
            // The business hidden in the same write: nobody is let in from the answer on.
            let hide = account_erasure::hide_op(&caller.tenant, request.id.as_str());
            // Listed among the businesses (a business from before the list may not be), so
            // the hourly sweep finds the request.
            let listed = TxOp::Put { item: tenants::registry_item(&caller.tenant), condition: None };
            PrivacyRepo::new(app.core.table.clone())
                .file_with(&caller.tenant, &request, vec![hide, listed])
                .await?
        }
        Kind::Cancellation if !partial => accept_cancellation(app, caller, &request, contact).await?,
        _ => PrivacyRepo::new(app.core.table.clone()).file(&caller.tenant, &request).await?,
    };
    let asked = request.details.clone();
    let request = match filed {
        Filed::New(request) => request,
        // A cancellation open for the contact answers for another only if it covers the same:
        // a whole one filed while a part is being erased must not be taken for that part.
        Filed::Open(open) if open.kind == Kind::Cancellation && open.details != asked => {
            return Err(ApiError::conflict(
                "another cancellation of this contact is under way: file this one again once it completes",
            ));
        }
        Filed::Open(request) => request,
    };
    if request.status.is_open() {
        // Again for an open one: its first job may have been lost; the worker does it once.
        enqueue(app, &caller.tenant, &request).await?;
    }
    // The rest of hiding after the job is out, so that a failure here (answered 503, and
    // done again by the retry, the worker or the sweep) never leaves the request without it.
    if let (Kind::Cancellation, true, Some(id)) =
        (request.kind, request.status.is_open(), Some(request.subject.key()))
    {
        let table = app.core.table.as_ref();
        if let Some(member) = &request.subject.member_id {
            leave(app, &caller.tenant, member).await?;
        } else if request.subject.account {
            // Hidden whole when filed.
        } else if partial {
            let chosen = Part::of(&request.details).ok_or(ApiError::NotFound)?;
            partial_erasure::hide(table, &caller.tenant, &chosen, &part, request.id.as_str()).await?;
        } else {
            erasure::hide_rest(table, &caller.tenant, id.as_str(), request.id.as_str()).await?;
        }
    }
    let subject = request.subject.key();
    Ok(Reply::json(202, &request)?.resource(request.id.as_str()).subject(subject).changed(vec![
        "kind".into(),
        "subject".into(),
        "details".into(),
    ]))
}

/// Files a contact's cancellation with the contact hidden in the same transaction (the
/// caller hides the rest, its claims and conversations, before answering): from the moment
/// it is accepted, no read or search shows the contact. A retry of a request that failed
/// half-way finds it open and hides again.
async fn accept_cancellation(
    app: &Privacy,
    caller: &Caller,
    request: &PrivacyRequest,
    mut contact: Option<Contact>,
) -> Result<Filed, ApiError> {
    let table = app.core.table.clone();
    let tenant = &caller.tenant;
    let repo = PrivacyRepo::new(table.clone());
    let mut tries = 0;
    let filed = loop {
        let hide = contact.iter().map(|c| erasure::hide_op(tenant, c, request.id.as_str())).collect();
        match repo.file_with(tenant, request, hide).await {
            Ok(filed) => break filed,
            // The contact changed since it was read: read it again (hidden by a cancellation
            // filed meanwhile, it is that one's).
            Err(gestor_shared::ports::TableError::ConditionFailed) if tries < 3 => {
                tries += 1;
                let id = request.subject.contact_id.as_ref().ok_or(ApiError::NotFound)?;
                contact = ContactRepo::new(table.clone()).get(tenant, id).await?;
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(filed)
}

/// Files a member's own cancellation, with the marker that keeps their sign-in id for the
/// worker. Refused for the business's only owner: a business always keeps one.
async fn accept_leaving(app: &Privacy, caller: &Caller, request: &PrivacyRequest) -> Result<Filed, ApiError> {
    let table = app.core.table.clone();
    let members = MemberRepo::new(table.clone()).list(&caller.tenant).await?;
    let other_owner = members.iter().any(|m| m.id != caller.member.id && m.role == Role::Owner);
    if caller.member.role == Role::Owner && !other_owner {
        return Err(ApiError::conflict(
            "you are the business's only owner: give another member the owner role first",
        ));
    }
    let marker = member_erasure::marker_op(&caller.tenant, request.id.as_str(), &caller.member);
    Ok(PrivacyRepo::new(table).file_with(&caller.tenant, request, vec![marker]).await?)
}

/// Takes the member off the roster (their membership too): from the answer on, they are no
/// longer in the business. A race that would leave no owner is the worker's to reject.
async fn leave(
    app: &Privacy,
    tenant: &gestor_shared::domain::TenantId,
    member: &MemberId,
) -> Result<(), ApiError> {
    match MemberRepo::new(app.core.table.clone()).remove(tenant, member).await {
        Ok(_) | Err(RosterError::NotFound | RosterError::LastOwner) => Ok(()),
        Err(RosterError::Table(e)) => Err(e.into()),
        Err(RosterError::Busy) => Err(ApiError::storage("the roster kept changing")),
    }
}

/// The worker's job; a failed send answers 503, and the retry (the same request, found
/// open) sends it again.
async fn enqueue(
    app: &Privacy,
    tenant: &gestor_shared::domain::TenantId,
    request: &PrivacyRequest,
) -> Result<(), ApiError> {
    let job = crate::worker::Job { tenant_id: tenant.to_string(), request_id: request.id.to_string() };
    let body = serde_json::to_string(&job).map_err(|e| ApiError::Internal(e.to_string()))?;
    let message = OutgoingMessage { id: "0".into(), body, group_id: None, dedup_id: None, delay: None };
    match app.queue.send_batch(&app.privacy_queue, vec![message]).await {
        Ok(outcome) if outcome.failed.is_empty() => Ok(()),
        Ok(_) => Err(ApiError::storage("the privacy queue refused the job")),
        Err(e) => Err(ApiError::storage(e)),
    }
}

/// The business's privacy requests, newest first (the caller's own without `privacy.others`).
#[utoipa::path(
    get, path = "/v1/privacy/requests", tag = "privacy",
    params(PageQuery),
    responses((status = 200, body = PrivacyRequestPage))
)]
pub async fn list(app: &Privacy, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let repo = PrivacyRepo::new(app.core.table.clone());
    let page = app
        .core
        .page(&call, "privacy-requests", async |limit, start| repo.list(&caller.tenant, limit, start).await)
        .await?;
    let items = page.items.into_iter().filter(|r| visible(caller, r)).collect();
    Reply::ok(&Page { items, next_cursor: page.next_cursor })
}

/// One privacy request.
#[utoipa::path(
    get, path = "/v1/privacy/requests/{id}", tag = "privacy",
    params(("id" = String, Path, description = "prq_...")),
    responses(
        (status = 200, body = PrivacyRequest),
        (status = 404, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(app: &Privacy, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = call.path_param("id")?;
    let found = PrivacyRepo::new(app.core.table.clone()).get(&caller.tenant, id).await?;
    match found.filter(|r| visible(caller, r)) {
        Some(request) => Reply::ok(&request),
        None => Err(ApiError::NotFound),
    }
}
