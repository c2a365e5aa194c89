//! Access and portability: the archive holds what was stored, the route signs a download
//! of it on each call, and a cancellation later erases it with the rest.

use gestor_shared::domain::{Direction, MessageKind};
use gestor_shared::http::serve;
use gestor_shared::ports::FileError;
use gestor_shared::repo::replies::ReplyRepo;
use gestor_shared::repo::scope::RowScope;
use gestor_shared::resources::export_key;
use gestor_shared::testing::ApiRequest;
use gestor_shared::testing::doubles::FailingFiles;
use serde_json::{Value, json};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::erasure::customer;
use super::{World, acme, world};

/// The download route's answer: status, and the link it redirects to.
async fn download(w: &World, sub: &str, id: &str) -> (u16, Option<String>) {
    let request = ApiRequest::new("GET /v1/privacy/requests/{id}/download").param("id", id).as_user(sub);
    let response = serve(&w.app, request.build()).await;
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
    (response.status().as_u16(), location)
}

/// What a link signed by the local files opens, as the local server would serve it.
fn open(w: &World, link: &str) -> Vec<u8> {
    let (path, query) = link.split_once('?').unwrap_or_else(|| panic!("{link}"));
    let key = path.split_once("/files/").map(|(_, k)| k).unwrap_or_else(|| panic!("{link}"));
    let param = |name: &str| {
        query.split('&').find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap_or_default().to_owned()
    };
    let opened =
        w.local.open_presigned(key, &param("expires"), &param("signature"), std::time::SystemTime::now());
    opened.unwrap_or_else(|e| panic!("{e}")).bytes
}

fn entry(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut file = zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap_or_else(|e| panic!("{e}"));
    bytes
}

#[tokio::test]
async fn an_access_request_delivers_everything_stored_of_the_contact_as_a_download() {
    let w = world().await;
    let ana = customer(&w, "5215512340011", "Ana Exportada").await;
    let other = customer(&w, "5215512340012", "Bea Otra").await;
    let mut note = gestor_shared::testing::text_message(
        &ana.conversation.id,
        &ana.contact.id,
        Direction::Out,
        "unused",
        time::OffsetDateTime::now_utc(),
    );
    note.kind = MessageKind::Note;
    note.channel_message_id = None;
    note.text = Some("prefiere que la llamen por la tarde".into());
    ReplyRepo::new(w.app.core.table.clone())
        .note(&acme(), &ana.conversation.id, &RowScope::Business, |_| Ok::<_, std::convert::Infallible>(note))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let body = json!({"kind": "access", "subject": {"contact_id": ana.contact.id.as_str()}});
    let (status, filed) = w.file(&w.admin, body).await;
    assert_eq!((status, &filed["status"]), (202, &json!("received")), "{filed}");
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(download(&w, &w.admin, &id).await.0, 409, "not ready before the worker ran");

    // The bucket fails a read once: the job comes back, and the request waits, received.
    let failing = Arc::new(FailingFiles::new(w.backend.files.clone()));
    failing.fail_gets.store(1, Ordering::SeqCst);
    let backend = gestor_shared::backend::Backend { files: failing, ..w.backend.clone() };
    let settings = gestor_shared::settings::Settings::local_with(|_| None);
    let flaky = crate::worker::PrivacyWorker::new(&backend, &settings).unwrap_or_else(|e| panic!("{e}"));
    let job = crate::worker::Job { tenant_id: "acme".into(), request_id: id.clone() };
    assert!(flaky.carry_out(&job).await.is_err());
    assert_eq!(w.read(&w.admin, &id).await.1["status"], "received");

    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"];
    assert_eq!(result["download_url"], format!("/v1/privacy/requests/{id}/download"));
    assert!(result["expires_at"].as_str().is_some_and(|t| t > done["completed_at"].as_str().unwrap_or("~")));
    assert_eq!(
        result["counts"],
        json!({"contacts": 1, "conversations": 1, "messages": 2, "notes": 1, "files": 1,
               "audit_entries": result["counts"]["audit_entries"]}),
        "{done}"
    );
    let key = export_key(&acme(), &id);
    assert_eq!(w.backend.files.tags(&key).await.ok(), Some(vec![("retention".into(), "export".into())]));

    // Each call signs a link of its own; another agent may not fetch it.
    let (status, link) = download(&w, &w.admin, &id).await;
    assert_eq!(status, 302);
    let link = link.unwrap_or_default();
    assert_eq!(download(&w, &w.agent, &id).await.0, 404);
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(open(&w, &link))).unwrap_or_else(|e| panic!("{e}"));
    let document: Value = serde_json::from_slice(&entry(&mut zip, "export.json")).unwrap_or_default();
    let schema: Value = serde_json::from_slice(&entry(&mut zip, "schema.json")).unwrap_or_default();
    for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        assert!(document.get(required).is_some(), "export.json lacks {required}");
    }
    assert_eq!(document["schema"], crate::export::contact::SCHEMA_ID);
    assert_eq!(document["contact"]["name"], "Ana Exportada");
    assert_eq!(document["contact"]["phones"], json!(ana.contact.phones), "as stored");
    assert_eq!(document["identities"], json!([{"channel": "whatsapp", "external_id": "5215512340011"}]));
    assert_eq!(document["conversations"][0]["id"], ana.conversation.id.as_str());
    let texts: Vec<&str> =
        document["messages"].as_array().into_iter().flatten().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(
        texts,
        vec!["soy Ana Exportada, mi correo es 5215512340011@correo.mx", "texto de wamid.5215512340011B"]
    );
    assert_eq!(document["notes"][0]["text"], "prefiere que la llamen por la tarde");
    let path = document["files"][0]["path"].as_str().unwrap_or_default().to_owned();
    assert_eq!(document["messages"][0]["file"], json!(path));
    assert_eq!(document["messages"][0]["media"].get("file_key"), None, "the bucket's key is ours");
    assert_eq!(entry(&mut zip, &path), b"jpg");
    let shown = document.to_string();
    assert!(!shown.contains("Bea Otra") && !shown.contains(other.contact.id.as_str()), "no one else's");
    let messages = String::from_utf8(entry(&mut zip, "messages.csv")).unwrap_or_default();
    assert_eq!(messages.lines().count(), 3, "{messages}");
    assert!(messages.contains("\"texto de wamid.5215512340011B\""), "{messages}");
    let contact = String::from_utf8(entry(&mut zip, "contact.csv")).unwrap_or_default();
    assert!(contact.contains("\"Ana Exportada\""), "{contact}");
    assert_eq!(
        w.audited("privacy_request.download").await,
        vec![json!({"type": "privacy_request", "id": id})]
    );

    // Gone from the bucket (its rule ran): 410, not a link to nothing.
    w.backend.files.delete(&key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(download(&w, &w.admin, &id).await.0, 410);
    assert!(w.backend.files.get(&other.file).await.is_ok());
}

#[tokio::test]
async fn a_cancellation_erases_the_contacts_exports_too() {
    let w = world().await;
    let ana = customer(&w, "5215512340013", "Ana Portátil").await;
    let body = json!({"kind": "portability", "subject": {"phone": "+5215512340013"}});
    let (status, filed) = w.file(&w.owner, body).await;
    assert_eq!(status, 202, "{filed}");
    assert!(w.work().await >= 1);
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    let key = export_key(&acme(), &id);
    assert!(w.backend.files.get(&key).await.is_ok());
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()}});
    let (status, _) = w.file(&w.owner, body).await;
    assert_eq!(status, 202);
    assert!(w.work().await >= 1);
    assert!(matches!(w.backend.files.get(&key).await, Err(FileError::NotFound)));
    assert_eq!(download(&w, &w.owner, &id).await.0, 404, "the request is erased with her");
    // An erased contact is no one's to export; an export takes no details.
    let body = json!({"kind": "access", "subject": {"contact_id": ana.contact.id.as_str()}});
    assert_eq!(w.file(&w.owner, body).await.0, 404);
    let bea = w.contact("5215512340014").await;
    let body = json!({"kind": "access", "subject": {"contact_id": bea.id.as_str()}, "details": {"x": 1}});
    assert_eq!(w.file(&w.owner, body).await.0, 400);
}

#[tokio::test]
async fn a_member_exports_their_profile_memberships_sessions_and_trail() {
    let w = world().await;
    let members = gestor_shared::repo::members::MemberRepo::new(w.app.core.table.clone());
    let agent = members.get_by_sub(&acme(), &w.agent).await.ok().flatten().unwrap_or_else(|| panic!("agent"));
    // The same user in a second business (so their requests name the business they are in).
    let other = gestor_shared::domain::TenantId::parse("otra-tienda").unwrap_or_else(|e| panic!("{e}"));
    members
        .ensure_member(&other, &w.agent, "agent@acme.mx", gestor_shared::http::Role::Admin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let in_acme = [("x-tenant-id", "acme")];
    let sighting = gestor_shared::repo::sessions::Sighting {
        marker: "signin-1".into(),
        ip: Some("189.203.4.17".into()),
        user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into()),
        timezone: Some("America/Monterrey".into()),
        country: Some("MX".into()),
    };
    gestor_shared::repo::sessions::SessionRepo::new(w.app.core.table.clone())
        .record(&acme(), &agent, &sighting, time::OffsetDateTime::now_utc(), |_| Ok(vec![]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let body = json!({"kind": "portability", "subject": {"member": "me"}});
    let request = ApiRequest::new("POST /v1/privacy/requests").json(body).as_user(&w.agent);
    let request = in_acme.iter().fold(request, |r, (name, value)| r.header(name, value));
    let (status, filed) = gestor_shared::testing::answer(serve(&w.app, request.build()).await);
    assert_eq!(status, 202, "{filed}");
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    // Two sessions: the sighting above, and the one the filing request itself was.
    let counts = &done["result"]["counts"];
    assert_eq!((&counts["memberships"], &counts["sessions"]), (&json!(2), &json!(2)), "{done}");
    let (status, link) = download(&w, &w.owner, &id).await;
    assert_eq!(status, 302);
    let bytes = open(&w, &link.unwrap_or_default());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
    let document: Value = serde_json::from_slice(&entry(&mut zip, "export.json")).unwrap_or_default();
    assert_eq!(document["schema"], crate::export::member::SCHEMA_ID);
    assert_eq!(
        (&document["member"]["email"], &document["member"]["role"]),
        (&json!("agent@acme.mx"), &json!("agent"))
    );
    let tenants: Vec<&str> = document["memberships"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["tenant_id"].as_str())
        .collect();
    assert_eq!(tenants.len(), 2, "{document}");
    assert!(tenants.contains(&"acme") && tenants.contains(&"otra-tienda"));
    let seen = document["sessions"].as_array().into_iter().flatten().find(|s| s["ip"] == "189.203.4.17");
    assert_eq!(seen.map(|s| &s["timezone"]), Some(&json!("America/Monterrey")), "{document}");
    // The filing itself is in their trail.
    let actions: Vec<&str> = document["audit_entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"privacy_request.create"), "{actions:?}");
    let sessions = String::from_utf8(entry(&mut zip, "sessions.csv")).unwrap_or_default();
    assert!(sessions.contains("\"189.203.4.17\""), "{sessions}");
    let request =
        ApiRequest::new("GET /v1/privacy/requests/{id}/download").param("id", &id).as_user(&w.agent);
    let request = in_acme.iter().fold(request, |r, (name, value)| r.header(name, value));
    assert_eq!(serve(&w.app, request.build()).await.status().as_u16(), 302, "theirs to fetch too");
}
