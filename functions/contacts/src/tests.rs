//! Handler tests: API Gateway requests built by hand, the dispatcher and an embedded table.

use gestor_shared::http::{Role, serve};
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};
use serde_json::{Value, json};

use crate::Contacts;

struct World {
    contacts: Contacts,
    files: std::sync::Arc<gestor_shared::adapters::local_files::LocalFiles>,
    owner: String,
    _dir: tempfile_guard::Guard,
}

mod tempfile_guard {
    pub type Guard = Box<dyn std::any::Any>;
}

async fn world() -> World {
    let (core, dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let files = std::sync::Arc::new(gestor_shared::adapters::local_files::LocalFiles::new(
        dir.path().join("files"),
        "http://127.0.0.1:0",
        b"k".to_vec(),
    ));
    World { contacts: Contacts::new(core, files.clone()), files, owner, _dir: Box::new(dir) }
}

impl World {
    async fn send(&self, request: ApiRequest) -> (u16, Value) {
        answer(serve(&self.contacts, request.build()).await)
    }

    async fn send_raw(&self, request: ApiRequest) -> lambda_http::Response<lambda_http::Body> {
        serve(&self.contacts, request.build()).await
    }

    async fn create(&self, body: Value) -> (u16, Value) {
        self.send(ApiRequest::new("POST /v1/contacts").as_user(&self.owner).json(body)).await
    }

    async fn user(&self, tenant: &str, email: &str, role: Role) -> String {
        member(&self.contacts.core, tenant, email, role).await
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn create_then_get_normalises_and_versions() {
    let w = world().await;
    let response = w
        .send_raw(ApiRequest::new("POST /v1/contacts").as_user(&w.owner).json(json!({
            "name": "  José Pérez ", "phones": ["+52 (55) 1234-5678"], "emails": ["Jose@Example.MX"],
            "tags": ["vip"], "attributes": {"talla": "M"}
        })))
        .await;
    assert_eq!(response.headers().get("etag").and_then(|v| v.to_str().ok()), Some("\"1\""));
    let (status, created) = answer(response);
    assert_eq!(status, 201, "{created}");
    assert!(id(&created).starts_with("ct_"));
    assert_eq!(created["name"], "José Pérez");
    assert_eq!(created["phones"], json!(["+525512345678"]));
    assert_eq!(created["emails"], json!(["jose@example.mx"]));
    assert_eq!(created["lifecycle"], "lead");
    assert_eq!(created["version"], 1);
    assert_eq!(created["identities"], json!([]));

    let (status, got) =
        w.send(ApiRequest::new("GET /v1/contacts/{id}").param("id", &id(&created)).as_user(&w.owner)).await;
    assert_eq!((status, got), (200, created));
}

#[tokio::test]
async fn no_token_is_401_and_another_tenants_contact_is_404() {
    let w = world().await;
    let (_, created) = w.create(json!({"name": "Ana"})).await;
    let (status, body) = w.send(ApiRequest::new("GET /v1/contacts/{id}").param("id", &id(&created))).await;
    assert_eq!(status, 401, "{body}");

    let stranger = w.user("other-biz", "boss@other.mx", Role::Owner).await;
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/contacts/{id}").param("id", &id(&created)).as_user(&stranger)).await;
    assert_eq!(status, 404);
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/contacts/{id}").param("id", "ct_nonsense").as_user(&w.owner)).await;
    assert_eq!(status, 404);
    // Naming a tenant one does not belong to is refused, not answered from it.
    let (status, _) = w
        .send(
            ApiRequest::new("GET /v1/contacts/{id}")
                .param("id", &id(&created))
                .as_user(&stranger)
                .header("x-tenant-id", "acme"),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn roles_limit_what_members_do() {
    let w = world().await;
    let viewer = w.user("acme", "viewer@acme.mx", Role::Viewer).await;
    let agent = w.user("acme", "agent@acme.mx", Role::Agent).await;
    let (status, body) =
        w.send(ApiRequest::new("POST /v1/contacts").as_user(&viewer).json(json!({"name": "X"}))).await;
    assert_eq!(status, 403, "{body}");
    let (status, created) =
        w.send(ApiRequest::new("POST /v1/contacts").as_user(&agent).json(json!({"name": "X"}))).await;
    assert_eq!(status, 201);
    let (status, _) =
        w.send(ApiRequest::new("DELETE /v1/contacts/{id}").param("id", &id(&created)).as_user(&agent)).await;
    assert_eq!(status, 403);
    let (status, _) = w.send(ApiRequest::new("GET /v1/contacts").as_user(&viewer)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_input_is_400_with_fields_and_never_500() {
    let w = world().await;
    let (status, body) = w
        .create(json!({"name": "", "phones": ["12ab"], "emails": ["no-at"], "lifecycle": "vip", "id": "ct_x", "colour": "red"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let f = fields(&body);
    for expected in ["name", "phones[0]", "emails[0]", "lifecycle", "id", "colour"] {
        assert!(f.contains(&expected.to_owned()), "{expected} not in {f:?}");
    }
    for raw in
        ["", "not json", "[1,2]", "{\"name\": 5}", "{\"phones\": \"+525512345678\"}", "{\"attributes\": []}"]
    {
        let (status, body) =
            w.send(ApiRequest::new("POST /v1/contacts").as_user(&w.owner).raw_body(raw)).await;
        assert_eq!(status, 400, "{raw} -> {body}");
        assert_eq!(body["status"], 400);
    }
    let huge = json!({"name": "x".repeat(300 * 1024)});
    let (status, _) = w.create(huge).await;
    assert_eq!(status, 413);
    let (status, body) =
        w.send(ApiRequest::new("GET /v1/contacts").as_user(&w.owner).query("limit", "0")).await;
    assert_eq!((status, fields(&body)), (400, vec!["limit".to_owned()]));
}

#[tokio::test]
async fn a_phone_belongs_to_one_contact_in_every_notation() {
    let w = world().await;
    let (_, first) = w.create(json!({"name": "Ana", "phones": ["+52 55 1234 5678"]})).await;
    let (status, body) = w.create(json!({"name": "Otra", "phones": ["+5215512345678"]})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(fields(&body), vec!["phones".to_owned()]);
    assert!(body["detail"].as_str().unwrap_or_default().contains(&id(&first)));
    let (status, _) = w.create(json!({"name": "Otra", "emails": ["a@b.mx"]})).await;
    assert_eq!(status, 201);
    let (status, _) = w.create(json!({"name": "Tercera", "emails": ["A@B.MX"]})).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer() {
    let w = world().await;
    let request =
        || ApiRequest::new("POST /v1/contacts").as_user(&w.owner).header("idempotency-key", "abc-1");
    let (status, first) = w.send(request().json(json!({"name": "Ana"}))).await;
    assert_eq!(status, 201);
    let replay = w.send_raw(request().json(json!({"name": "Ana"}))).await;
    assert_eq!(replay.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let (status, second) = answer(replay);
    assert_eq!((status, id(&second)), (201, id(&first)));
    let (status, _) = w.send(request().json(json!({"name": "Beto"}))).await;
    assert_eq!(status, 422);
    let (_, page) = w.send(ApiRequest::new("GET /v1/contacts").as_user(&w.owner)).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_retried_change_applies_once_and_a_key_is_bound_to_its_contact() {
    let w = world().await;
    let (_, ana) = w.create(json!({"name": "Ana"})).await;
    let (_, beto) = w.create(json!({"name": "Beto"})).await;
    let patch = |contact: &Value| {
        ApiRequest::new("PATCH /v1/contacts/{id}")
            .param("id", &id(contact))
            .as_user(&w.owner)
            .header("idempotency-key", "rename-1")
            .json(json!({"tags": ["vip"]}))
    };
    let (status, first) = w.send(patch(&ana)).await;
    assert_eq!((status, &first["version"]), (200, &json!(2)));
    let (status, again) = w.send(patch(&ana)).await;
    assert_eq!((status, &again["version"]), (200, &json!(2)), "the retry answers the first answer");
    // The same key and body on another contact is another request, never a replay of Ana's.
    let (status, _) = w.send(patch(&beto)).await;
    assert_eq!(status, 422);
    let (_, beto_now) =
        w.send(ApiRequest::new("GET /v1/contacts/{id}").param("id", &id(&beto)).as_user(&w.owner)).await;
    assert_eq!(beto_now["version"], 1);
}

#[tokio::test]
async fn patch_merges_and_honours_versions() {
    let w = world().await;
    let (_, c) = w
        .create(json!({"name": "Ana", "tags": ["a", "b"], "attributes": {"talla": "M", "color": "rojo"}}))
        .await;
    let patch = |body: Value| {
        ApiRequest::new("PATCH /v1/contacts/{id}").param("id", &id(&c)).as_user(&w.owner).json(body)
    };

    let response = w
        .send_raw(patch(
            json!({"tags": ["c"], "attributes": {"color": null, "zona": "norte"}, "lifecycle": "client"}),
        ))
        .await;
    assert_eq!(response.headers().get("etag").and_then(|v| v.to_str().ok()), Some("\"2\""));
    let (status, updated) = answer(response);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["tags"], json!(["c"]));
    assert_eq!(updated["attributes"], json!({"talla": "M", "zona": "norte"}));
    assert_eq!(updated["lifecycle"], "client");
    assert_eq!(updated["name"], "Ana");
    assert_eq!(updated["version"], 2);

    let (status, _) = w.send(patch(json!({"name": "Ana María"})).header("if-match", "\"1\"")).await;
    assert_eq!(status, 412);
    let (status, body) = w.send(patch(json!({"name": "Ana María", "version": 1}))).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = w.send(patch(json!({"name": "Ana María"})).header("if-match", "\"2\"")).await;
    assert_eq!((status, &body["version"]), (200, &json!(3)));
    let (status, body) = w.send(patch(json!({"name": "Ana M."})).header("if-match", "*")).await;
    assert_eq!((status, &body["version"]), (200, &json!(4)), "If-Match: * matches any version");
    let (status, body) = w.send(patch(json!({"identities": []}))).await;
    assert_eq!((status, fields(&body)), (400, vec!["identities".to_owned()]));
    let (status, _) = w.send(patch(json!({"lifecycle": null}))).await;
    assert_eq!(status, 400);

    // Tags moved: the old tag no longer lists the contact.
    let (_, by_old_tag) =
        w.send(ApiRequest::new("GET /v1/contacts").as_user(&w.owner).query("tag", "a")).await;
    assert_eq!(by_old_tag["items"], json!([]));
    let (_, by_new_tag) =
        w.send(ApiRequest::new("GET /v1/contacts").as_user(&w.owner).query("tag", "c")).await;
    assert_eq!(by_new_tag["items"][0]["id"], json!(id(&c)));
}

#[tokio::test]
async fn delete_removes_the_contact_and_frees_its_phone() {
    let w = world().await;
    let (_, c) = w.create(json!({"name": "Ana", "phones": ["+525512345678"], "tags": ["vip"]})).await;
    let (status, _) =
        w.send(ApiRequest::new("DELETE /v1/contacts/{id}").param("id", &id(&c)).as_user(&w.owner)).await;
    assert_eq!(status, 204);
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/contacts/{id}").param("id", &id(&c)).as_user(&w.owner)).await;
    assert_eq!(status, 404);
    let (status, _) =
        w.send(ApiRequest::new("DELETE /v1/contacts/{id}").param("id", &id(&c)).as_user(&w.owner)).await;
    assert_eq!(status, 404);
    let (_, tagged) = w.send(ApiRequest::new("GET /v1/contacts").as_user(&w.owner).query("tag", "vip")).await;
    assert_eq!(tagged["items"], json!([]));
    let (status, _) = w.create(json!({"name": "Ana otra vez", "phones": ["+525512345678"]})).await;
    assert_eq!(status, 201);
    // No companion item of the deleted contact is left under its subject.
    let tenant = gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
    let left =
        gestor_shared::repo::personal::keys_of_subject(w.contacts.core.table.as_ref(), &tenant, &id(&c))
            .await;
    assert_eq!(left.map(|k| k.len()).ok(), Some(0));
}

#[tokio::test]
async fn delete_removes_the_media_files_of_the_contacts_messages_from_the_bucket() {
    use gestor_shared::ids::{ChannelAccountId, ContactId, MessageId};
    use gestor_shared::inbound::Channel;
    use gestor_shared::ports::Files;
    use gestor_shared::repo::conversations::ConversationRepo;
    use gestor_shared::repo::messages::{
        Direction, Media, Message, MessageKind, MessageRepo, MessageStatus, media_file_key,
    };
    let w = world().await;
    let tenant = gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
    let table = w.contacts.core.table.clone();
    let mut kept = Vec::new();
    for (name, phone) in [("Ana", "+525512345678"), ("Beto", "+525512345679")] {
        let (_, c) = w.create(json!({"name": name, "phones": [phone]})).await;
        let contact = ContactId::parse(&id(&c)).unwrap_or_else(|e| panic!("{e}"));
        let at = time::macros::datetime!(2026-11-28 10:00 UTC);
        let (conversation, _) = ConversationRepo::new(table.clone())
            .open_for(&tenant, &contact, Channel::Whatsapp, &ChannelAccountId::new(), at)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let message_id = MessageId::new();
        let key = media_file_key(&tenant, &message_id);
        w.files.put(&key, b"jpeg".to_vec(), "image/jpeg").await.unwrap_or_else(|e| panic!("{e}"));
        let message = Message {
            id: message_id,
            conversation_id: conversation.id,
            contact_id: contact.clone(),
            channel: Channel::Whatsapp,
            direction: Direction::In,
            kind: MessageKind::Image,
            raw_kind: None,
            text: None,
            media: Some(Media { file_key: Some(key.clone()), ..Media::default() }),
            details: None,
            status: MessageStatus::Received,
            status_at: None,
            error: None,
            channel_message_id: Some(format!("wamid.{name}")),
            reply_to: None,
            reactions: vec![],
            deleted: false,
            edited_at: None,
            sent_by: None,
            created_at: at,
            updated_at: at,
        };
        MessageRepo::new(table.clone())
            .insert_once(&tenant, &message)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        kept.push((id(&c), key));
    }
    let (status, _) =
        w.send(ApiRequest::new("DELETE /v1/contacts/{id}").param("id", &kept[0].0).as_user(&w.owner)).await;
    assert_eq!(status, 204);
    assert_eq!(
        w.files.list("acme/").await.unwrap_or_default(),
        vec![kept[1].1.clone()],
        "only the other contact's file is left"
    );
}

#[tokio::test]
async fn filters_and_cursor_pages() {
    let w = world().await;
    for (name, lifecycle, tag) in [
        ("José Pérez", "lead", "vip"),
        ("Josefina Ruiz", "client", "vip"),
        ("Ana López", "client", "nuevo"),
        ("jorge", "lead", "vip"),
        ("Beto", "inactive", "vip"),
    ] {
        let (status, _) = w.create(json!({"name": name, "lifecycle": lifecycle, "tags": [tag]})).await;
        assert_eq!(status, 201);
    }
    let list = |q: &[(&str, &str)]| {
        let mut r = ApiRequest::new("GET /v1/contacts").as_user(&w.owner);
        for (k, v) in q {
            r = r.query(k, v);
        }
        r
    };
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, jose) = w.send(list(&[("q", "JOSE")])).await;
    assert_eq!(names(&jose), vec!["José Pérez", "Josefina Ruiz"]);
    let (_, clients) = w.send(list(&[("lifecycle", "client")])).await;
    assert_eq!(names(&clients).len(), 2);
    let (_, vip_clients) = w.send(list(&[("tag", "vip"), ("lifecycle", "client")])).await;
    assert_eq!(names(&vip_clients), vec!["Josefina Ruiz"]);
    let (status, _) = w.send(list(&[("lifecycle", "vip")])).await;
    assert_eq!(status, 400);

    // Pages of two, newest first, every contact exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut q = vec![("limit", "2")];
        if let Some(c) = cursor.as_deref() {
            q.push(("cursor", c));
        }
        let (status, page) = w.send(list(&q)).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(names(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["Beto", "jorge", "Ana López", "Josefina Ruiz", "José Pérez"]);

    let (_, first) = w.send(list(&[("limit", "2")])).await;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let (status, _) = w.send(list(&[("limit", "2"), ("tag", "vip"), ("cursor", &cursor)])).await;
    assert_eq!(status, 400, "a cursor is bound to its query");
    let stranger = w.user("other-biz", "o@other.mx", Role::Owner).await;
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/contacts").as_user(&stranger).query("cursor", &cursor)).await;
    assert_eq!(status, 400, "a cursor is bound to its tenant");
    let (status, _) = w.send(list(&[("cursor", "forged.cursor")])).await;
    assert_eq!(status, 400);
}
