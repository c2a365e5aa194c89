//! `GET /v1/privacy/requests/{id}/download`: the archive of a completed access or
//! portability request, as a redirect to a link signed for this call. The link is made on
//! each call rather than stored: one presigned with a Lambda's temporary credentials stops
//! working when they expire, whatever it says.

use gestor_shared::http::{ApiError, Call, Reply};
use gestor_shared::ports::FileError;
use gestor_shared::repo::privacy::{Kind, PrivacyRepo, Status};
use gestor_shared::resources::export_key;
use std::time::Duration;
use time::OffsetDateTime;

use crate::Privacy;

/// How long the link answered lives: long enough to start the download, short enough that
/// one copied into a chat is of no use by the time anyone else reads it.
pub const LINK_LIFETIME: Duration = Duration::from_secs(300);

/// The request's export: 302 to a link valid for five minutes.
#[utoipa::path(
    get, path = "/v1/privacy/requests/{id}/download", tag = "privacy",
    params(("id" = String, Path, description = "prq_... of an access or portability request")),
    responses(
        (status = 302, description = "To a freshly signed link to the archive (a zip), valid five minutes", headers(("Location" = String))),
        (status = 404, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "No such request the caller may see, or not one with an export"),
        (status = 409, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "Not completed yet"),
        (status = 410, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The archive expired (or was erased since): file a new request"),
    )
)]
pub async fn download(app: &Privacy, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = call.path_param("id")?;
    let request = PrivacyRepo::new(app.core.table.clone())
        .get(&caller.tenant, id)
        .await?
        .filter(|r| crate::filing::visible(caller, r))
        .filter(|r| matches!(r.kind, Kind::Access | Kind::Portability))
        .ok_or(ApiError::NotFound)?;
    match request.status {
        Status::Completed => {}
        Status::Rejected => return Err(ApiError::Gone("the request was rejected: it has no export".into())),
        _ => {
            return Err(ApiError::conflict(
                "the export is not ready yet: the request is still being carried out",
            ));
        }
    }
    let expires_at = request
        .result
        .as_ref()
        .and_then(|r| r["expires_at"].as_str())
        .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
    let gone = || ApiError::Gone("the export has expired: file a new request for a fresh one".into());
    // The bucket's rule deletes it days late at most; the promise is the day it says.
    if expires_at.is_none_or(|at| OffsetDateTime::now_utc() >= at) {
        return Err(gone());
    }
    let key = export_key(&caller.tenant, request.id.as_str());
    match app.files.head(&key).await {
        Ok(_) => {}
        Err(FileError::NotFound) => return Err(gone()),
        Err(e) => return Err(ApiError::storage(e)),
    }
    let link = app.files.presigned_get(&key, LINK_LIFETIME).await.map_err(ApiError::storage)?;
    Ok(Reply::raw(302, "text/plain", "").header("location", link).header("cache-control", "no-store"))
}
