//! The contact routes: parse, act through the repository, answer. Authentication, permission,
//! idempotency and audit are the dispatcher's (gestor_shared::http::service).

use gestor_shared::domain::{Email, Phone};
use gestor_shared::http::PageQuery;
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Page, Reply};
use gestor_shared::ids::{ContactId, MemberId};
use gestor_shared::repo::contacts::{Contact, ContactError, ContactFilter, Identity, Lifecycle};
use gestor_shared::repo::personal;
use gestor_shared::repo::scope::RowScope;
use serde_json::Value;

use crate::Contacts;
use crate::input::Fields;

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(Contact, ContactPage, Lifecycle, Identity, Problem, FieldError)))]
pub struct ApiDoc;

/// A page of contacts (the alias lets the OpenAPI macros name it).
pub type ContactPage = Page<Contact>;

/// How many times a write is retried when another request changed the contact in between.
const RACE_RETRIES: usize = 3;

fn contact_id(call: &Call) -> Result<ContactId, ApiError> {
    // A malformed id cannot name a contact of this tenant: 404 like any unknown id.
    ContactId::parse(call.path_param("id")?).map_err(|_| ApiError::NotFound)
}

/// A refused write as the caller may see it: a conflict names the contact holding the phone
/// or email only when the caller reaches every contact (under row scoping an agent is not
/// told which customers exist outside their rows).
fn duplicate(caller: &Caller) -> impl Fn(ContactError) -> ApiError + '_ {
    move |error| refused(error, caller.scope == RowScope::Business)
}

fn refused(error: ContactError, may_name: bool) -> ApiError {
    match error {
        ContactError::Duplicate { field, value, existing } => {
            let owner = existing.filter(|_| may_name).map(|id| format!(" ({id})")).unwrap_or_default();
            ApiError::Conflict {
                detail: format!("another contact{owner} already has this {}", field.trim_end_matches('s')),
                errors: vec![FieldError::new(field, format!("{value} belongs to another contact{owner}"))],
            }
        }
        ContactError::VersionConflict => ApiError::PreconditionFailed,
        ContactError::NotFound => ApiError::NotFound,
        ContactError::Table(e) => e.into(),
    }
}

/// Under row scoping an agent may only take a contact nobody owns; giving one away, or taking
/// another's, is a manager's call. `current` is the owner before the change.
async fn check_owner(
    app: &Contacts,
    caller: &Caller,
    current: Option<&MemberId>,
    owner: Option<&MemberId>,
) -> Result<(), ApiError> {
    if caller.scope != RowScope::Business && (owner != Some(&caller.member.id) || current.is_some()) {
        return Err(ApiError::Forbidden(
            "under row scoping only managers and up assign a contact's owner".into(),
        ));
    }
    if let Some(owner) = owner
        && app.core.members.get_by_id(&caller.tenant, owner).await?.is_none()
    {
        return Err(ApiError::invalid_field("owner_id", "is not a member of this business"));
    }
    Ok(())
}

fn filter(call: &Call) -> Result<ContactFilter, ApiError> {
    let mut errors = Vec::new();
    let mut f = ContactFilter::default();
    if let Some(q) = call.query_param("q") {
        if q.chars().count() > 100 {
            errors.push(FieldError::new("q", "must be at most 100 characters"));
        }
        f.q = Some(q.to_owned());
    }
    if let Some(phone) = call.query_param("phone") {
        match Phone::parse(phone) {
            Ok(p) => f.phone = Some(p),
            Err(e) => errors.push(FieldError::new("phone", e.to_string())),
        }
    }
    if let Some(email) = call.query_param("email") {
        match Email::parse(email) {
            Ok(e) => f.email = Some(e),
            Err(e) => errors.push(FieldError::new("email", e.to_string())),
        }
    }
    if let Some(tag) = call.query_param("tag") {
        f.tag = Some(tag.trim().to_owned());
    }
    if let Some(lifecycle) = call.query_param("lifecycle") {
        match Lifecycle::parse(lifecycle) {
            Some(l) => f.lifecycle = Some(l),
            None => errors.push(FieldError::new("lifecycle", "must be one of lead, client, inactive")),
        }
    }
    if errors.is_empty() { Ok(f) } else { Err(ApiError::invalid_fields(errors)) }
}

/// List contacts, newest first (by name for a `q` search).
#[utoipa::path(
    get, path = "/v1/contacts", tag = "contacts",
    params(
        ("q" = Option<String>, Query, description = "Name prefix, ignoring case and accents"),
        ("phone" = Option<String>, Query, description = "A phone number in any common notation"),
        ("email" = Option<String>, Query),
        ("tag" = Option<String>, Query),
        ("lifecycle" = Option<Lifecycle>, Query),
        PageQuery,
    ),
    responses(
        (status = 200, body = ContactPage),
    )
)]
pub async fn list(app: &Contacts, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let (tenant, scope) = (&caller.tenant, &caller.scope);
    let filter = filter(&call)?;
    let query = filter.canonical();
    let page = app
        .core
        .page(&call, &query, async |limit, start| app.repo.list(tenant, &filter, scope, limit, start).await);
    Reply::ok(&page.await?)
}

/// Create a contact. Phones, emails and channel identities are unique in a business.
#[utoipa::path(
    post, path = "/v1/contacts", tag = "contacts",
    request_body(content = Object, description = "name, phones, emails, lifecycle, tags, attributes, owner_id"),
    responses(
        (status = 201, body = Contact, headers(("ETag" = String))),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(app: &Contacts, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let body = call.json_object()?;
    let given: Vec<String> = body.keys().cloned().collect();
    let mut fields = Fields::from_create(body)?;
    // An agent's new contact under row scoping is theirs, or they could not see it.
    if caller.scope != RowScope::Business && fields.owner_id.is_none() {
        fields.owner_id = Some(caller.member.id.clone());
    }
    check_owner(app, caller, None, fields.owner_id.as_ref()).await?;
    let now = time::OffsetDateTime::now_utc();
    let mut contact = Contact {
        id: ContactId::new(),
        name: None,
        phones: vec![],
        emails: vec![],
        lifecycle: Lifecycle::Lead,
        tags: vec![],
        attributes: Default::default(),
        identities: vec![],
        restrictions: vec![],
        owner_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    fields.apply(&mut contact);
    app.repo.create(&caller.tenant, &contact).await.map_err(duplicate(caller))?;
    Ok(Reply::created(&contact)?
        .version(contact.version)
        .resource(contact.id.as_str())
        .subject(contact.id.as_str())
        .changed(given))
}

/// Get a contact.
#[utoipa::path(
    get, path = "/v1/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "ct_...")),
    responses(
        (status = 200, body = Contact, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(app: &Contacts, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = contact_id(&call)?;
    let contact = app.repo.get_in(&caller.tenant, &id, &caller.scope).await?.ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&contact)?.version(contact.version))
}

/// Change a contact with a JSON merge patch (RFC 7396). `If-Match: "<version>"` or a
/// `version` field makes the change conditional.
#[utoipa::path(
    patch, path = "/v1/contacts/{id}", tag = "contacts",
    params(
        ("id" = String, Path, description = "ct_..."),
        ("If-Match" = Option<String>, Header, description = "The ETag of the version the change is based on"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Contact, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn patch(app: &Contacts, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = contact_id(&call)?;
    let if_match = call.if_match()?;
    let patch = call.json_object()?;
    let body_version = match patch.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(v.as_u64().ok_or_else(|| ApiError::invalid_field("version", "must be a whole number"))?)
        }
    };
    for attempt in 0..RACE_RETRIES {
        let current = app.repo.get_in(&caller.tenant, &id, &caller.scope).await?.ok_or(ApiError::NotFound)?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(ApiError::PreconditionFailed);
        }
        if body_version.is_some_and(|v| v != current.version) {
            return Err(ApiError::Conflict {
                detail: format!("the contact is at version {}, not the version sent", current.version),
                errors: vec![FieldError::new("version", "does not match the current version")],
            });
        }
        let fields = Fields::from_patch(&current, patch.clone())?;
        let changed = fields.changed_from(&current);
        if changed.is_empty() {
            return Ok(Reply::ok(&current)?.version(current.version).changed(changed));
        }
        if fields.owner_id != current.owner_id {
            check_owner(app, caller, current.owner_id.as_ref(), fields.owner_id.as_ref()).await?;
        }
        let mut next = current.clone();
        fields.apply(&mut next);
        next.version = current.version + 1;
        next.updated_at = time::OffsetDateTime::now_utc();
        match app.repo.replace(&caller.tenant, &current, &next).await {
            Ok(()) => {
                return Ok(Reply::ok(&next)?
                    .version(next.version)
                    .subject(next.id.as_str())
                    .changed(changed));
            }
            // Someone else changed it in between: a conditional request fails, others retry
            // on the new version.
            Err(ContactError::VersionConflict) if if_match.is_none() && body_version.is_none() => {
                tracing::info!(attempt, "contact changed concurrently; retrying");
            }
            Err(e) => return Err(duplicate(caller)(e)),
        }
    }
    Err(ApiError::conflict("the contact is being changed by other requests; retry"))
}

/// Delete a contact and every item holding its data.
#[utoipa::path(
    delete, path = "/v1/contacts/{id}", tag = "contacts",
    params(
        ("id" = String, Path, description = "ct_..."),
        ("If-Match" = Option<String>, Header),
    ),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(app: &Contacts, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = contact_id(&call)?;
    let if_match = call.if_match()?;
    for _ in 0..RACE_RETRIES {
        let current = app.repo.get_in(&caller.tenant, &id, &caller.scope).await?.ok_or(ApiError::NotFound)?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(ApiError::PreconditionFailed);
        }
        // The files first: a failure leaves the contact there to delete again, never files
        // of a contact that no longer exists. Once more after: a download may have attached
        // its file in between.
        let table = app.core.table.as_ref();
        let files = personal::files_of_subject(table, &caller.tenant, current.id.as_str()).await?;
        delete_files(app, &files).await?;
        match app.repo.delete(&caller.tenant, &current).await {
            Ok(()) => {
                delete_files(app, &files).await?;
                return Ok(Reply::no_content().changed(vec![]));
            }
            Err(ContactError::VersionConflict) if if_match.is_none() => {}
            Err(e) => return Err(duplicate(caller)(e)),
        }
    }
    Err(ApiError::conflict("the contact is being changed by other requests; retry"))
}

/// Deletes bucket objects (absent ones are fine).
async fn delete_files(app: &Contacts, keys: &[String]) -> Result<(), ApiError> {
    for key in keys {
        app.files.delete(key).await.map_err(ApiError::storage)?;
    }
    Ok(())
}
