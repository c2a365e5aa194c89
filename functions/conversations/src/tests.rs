//! Handler tests: API Gateway requests built by hand, the dispatcher and an embedded table,
//! seeded through the repositories the inbound worker writes with.

use gestor_shared::adapters::embedded;
use gestor_shared::adapters::embedded_queue::EmbeddedQueue;
use gestor_shared::adapters::local_files::LocalFiles;
use gestor_shared::domain::TenantId;
use gestor_shared::http::{Role, serve};
use gestor_shared::ids::{ChannelAccountId, ContactId, ConversationId, MemberId};
use gestor_shared::inbound::Channel;
use gestor_shared::ports::Files;
use gestor_shared::repo::conversations::{ConversationChange, ConversationRepo, ConversationStatus};
use gestor_shared::repo::messages::{Change, Direction, Inserted, Media, Message, MessageKind, MessageRepo};
use gestor_shared::settings::Settings;
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::Conversations;

struct World {
    app: Conversations,
    files: Arc<LocalFiles>,
    queue: Arc<EmbeddedQueue>,
    owner: String,
    _dir: Box<dyn std::any::Any>,
}

async fn world() -> World {
    world_with(|_| None).await
}

/// A world whose function reads these settings (the rest: local defaults).
async fn world_with(lookup: impl Fn(&str) -> Option<String>) -> World {
    let (core, dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let files =
        Arc::new(LocalFiles::new(dir.path().join("files"), "http://127.0.0.1:3000", b"files-key".to_vec()));
    let db = embedded::open(&dir.path().join("queue.redb")).unwrap_or_else(|e| panic!("{e}"));
    let queue = Arc::new(EmbeddedQueue::new(db).unwrap_or_else(|e| panic!("{e}")));
    let settings = Settings::local_with(lookup);
    let app =
        Conversations::new(core, files.clone(), queue.clone(), &settings).unwrap_or_else(|e| panic!("{e}"));
    World { app, files, queue, owner, _dir: Box::new(dir) }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap_or_else(|e| panic!("{e}"))
}

fn at(minute: u8) -> OffsetDateTime {
    datetime!(2026-11-28 10:00 UTC) + time::Duration::minutes(i64::from(minute))
}

impl World {
    async fn send(&self, request: ApiRequest) -> (u16, Value) {
        answer(serve(&self.app, request.build()).await)
    }

    /// A new contact's conversation on a new WhatsApp account, opened at `at`.
    async fn thread(&self, at: OffsetDateTime) -> (ContactId, ConversationId) {
        let contact = ContactId::new();
        let opened = self
            .repo()
            .open_for(&tenant("acme"), &contact, Channel::Whatsapp, &ChannelAccountId::new(), at)
            .await;
        (contact, opened.map(|(c, _)| c.id).unwrap_or_else(|e| panic!("{e}")))
    }

    fn repo(&self) -> ConversationRepo {
        ConversationRepo::new(self.app.core.table.clone())
    }

    async fn member_id(&self, sub: &str) -> MemberId {
        match self.app.core.members.get_by_sub(&tenant("acme"), sub).await {
            Ok(Some(m)) => m.id,
            other => panic!("no member {sub}: {other:?}"),
        }
    }

    /// A conversation of a new contact on `channel` whose first message came at `at`.
    async fn conversation(&self, tenant_name: &str, channel: Channel, at: OffsetDateTime) -> ConversationId {
        let opened = self
            .repo()
            .open_for(&tenant(tenant_name), &ContactId::new(), channel, &ChannelAccountId::new(), at)
            .await;
        match opened {
            Ok((c, true)) => c.id,
            other => panic!("{other:?}"),
        }
    }

    async fn change(&self, id: &ConversationId, change: ConversationChange) {
        if let Err(e) = self.repo().change(&tenant("acme"), id, &change, None).await {
            panic!("{e}");
        }
    }

    async fn list(&self, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = ApiRequest::new("GET /v1/conversations").as_user(&self.owner);
        for (k, v) in query {
            request = request.query(k, v);
        }
        self.send(request).await
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

fn names(ids: &[&ConversationId]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[tokio::test]
async fn the_inbox_lists_newest_activity_first_with_filters() {
    let w = world().await;
    let other = w.member_id(&member(&w.app.core, "acme", "agent@acme.mx", Role::Agent).await).await;
    let me = w.member_id(&w.owner).await;
    let c1 = w.conversation("acme", Channel::Whatsapp, at(1)).await;
    let c2 = w.conversation("acme", Channel::Messenger, at(2)).await;
    let c3 = w.conversation("acme", Channel::Whatsapp, at(3)).await;
    let c4 = w.conversation("acme", Channel::Instagram, at(4)).await;
    let c5 = w.conversation("acme", Channel::Whatsapp, at(5)).await;
    w.conversation("other-biz", Channel::Whatsapp, at(6)).await;
    w.change(&c2, ConversationChange { status: Some(ConversationStatus::Resolved), ..Default::default() })
        .await;
    w.change(&c3, ConversationChange { assignee_id: Some(Some(me)), ..Default::default() }).await;
    let pending = ConversationChange {
        status: Some(ConversationStatus::Pending),
        assignee_id: Some(Some(other.clone())),
        ..Default::default()
    };
    w.change(&c4, pending).await;

    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a ConversationId>);
    let cases: Vec<Case> = vec![
        (vec![], vec![&c5, &c4, &c3, &c2, &c1]),
        (vec![("status", "open")], vec![&c5, &c3, &c1]),
        (vec![("assignee", "me")], vec![&c3]),
        (vec![("assignee", other.as_str())], vec![&c4]),
        (vec![("assignee", other.as_str()), ("status", "open")], vec![]),
        (vec![("unassigned", "true")], vec![&c5, &c2, &c1]),
        (vec![("unassigned", "true"), ("status", "open")], vec![&c5, &c1]),
        (vec![("unassigned", "false"), ("channel", "whatsapp")], vec![&c5, &c3, &c1]),
        (vec![("channel", "whatsapp"), ("status", "open"), ("unassigned", "true")], vec![&c5, &c1]),
        (vec![("channel", "tiktok")], vec![]),
    ];
    for (query, expected) in cases {
        let (status, page) = w.list(&query).await;
        assert_eq!(status, 200, "{query:?}: {page}");
        assert_eq!(ids(&page), names(&expected), "{query:?}");
    }

    // A new message brings a conversation to the top, even a resolved one (reopened).
    if let Err(e) = w.repo().record_inbound(&tenant("acme"), &c2, at(9)).await {
        panic!("{e}");
    }
    let (_, page) = w.list(&[("status", "open")]).await;
    assert_eq!(ids(&page), names(&[&c2, &c5, &c3, &c1]));
    assert_eq!(page["items"][0]["unread_count"], 1);
    assert_eq!(page["items"][0]["status"], "open");
}

#[tokio::test]
async fn inbox_pages_follow_cursors_bound_to_the_query_and_tenant() {
    let w = world().await;
    let mut expected = Vec::new();
    for minute in 0..7 {
        let channel = if minute % 2 == 0 { Channel::Whatsapp } else { Channel::Instagram };
        expected.push(w.conversation("acme", channel, at(minute)).await.to_string());
    }
    expected.reverse();
    for query in [vec![("limit", "2")], vec![("limit", "3"), ("channel", "whatsapp")]] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut q = query.clone();
            if let Some(c) = cursor.as_deref() {
                q.push(("cursor", c));
            }
            let (status, page) = w.list(&q).await;
            assert_eq!(status, 200, "{page}");
            seen.extend(ids(&page));
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        let wanted: Vec<String> =
            if query.len() == 1 { expected.clone() } else { expected.iter().step_by(2).cloned().collect() };
        assert_eq!(seen, wanted, "{query:?}");
    }

    let (_, first) = w.list(&[("limit", "2")]).await;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let (status, _) = w.list(&[("limit", "2"), ("status", "open"), ("cursor", &cursor)]).await;
    assert_eq!(status, 400, "a cursor is bound to its query");
    let stranger = member(&w.app.core, "other-biz", "boss@other.mx", Role::Owner).await;
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/conversations").as_user(&stranger).query("cursor", &cursor)).await;
    assert_eq!(status, 400, "a cursor is bound to its tenant");
}

#[tokio::test]
async fn bad_filters_are_400_with_their_fields() {
    let w = world().await;
    let (status, body) = w
        .list(&[("status", "closed"), ("assignee", "ana"), ("unassigned", "yes"), ("channel", "telegram")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(fields(&body), vec!["status", "assignee", "unassigned", "channel"]);
    let (status, body) = w.list(&[("assignee", "me"), ("unassigned", "true")]).await;
    assert_eq!((status, fields(&body)), (400, vec!["unassigned".to_owned()]));
    let (status, body) = w.list(&[("limit", "500")]).await;
    assert_eq!((status, fields(&body)), (400, vec!["limit".to_owned()]));
    let (status, _) = w.list(&[("cursor", "forged.cursor")]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_conversation_is_found_only_in_its_tenant() {
    let w = world().await;
    let id = w.conversation("acme", Channel::Whatsapp, at(1)).await;
    let get = |id: &str| ApiRequest::new("GET /v1/conversations/{id}").param("id", id);
    let response = serve(&w.app, get(id.as_str()).as_user(&w.owner).build()).await;
    assert_eq!(response.headers().get("etag").and_then(|v| v.to_str().ok()), Some("\"1\""));
    let (status, body) = answer(response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["channel"], "whatsapp");
    assert_eq!(body["status"], "open");
    assert_eq!(body["assignee_id"], Value::Null);
    assert_eq!(body["unread_count"], 0);
    assert_eq!(body["last_message_at"], "2026-11-28T10:01:00Z");
    assert!(body.get("rev").is_none() && body.get("gsi1pk").is_none(), "{body}");

    let stranger = member(&w.app.core, "other-biz", "boss@other.mx", Role::Owner).await;
    let (status, _) = w.send(get(id.as_str()).as_user(&stranger)).await;
    assert_eq!(status, 404);
    let (status, _) = w
        .send(
            ApiRequest::new("GET /v1/conversations/{id}/messages")
                .param("id", id.as_str())
                .as_user(&stranger),
        )
        .await;
    assert_eq!(status, 404);
    let unknown = ConversationId::new();
    for bad in ["cv_nonsense", "ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6", unknown.as_str()] {
        let (status, _) = w.send(get(bad).as_user(&w.owner)).await;
        assert_eq!(status, 404, "{bad}");
    }
    let (status, _) = w.send(get(id.as_str())).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn every_role_reads_the_inbox() {
    let w = world().await;
    let id = w.conversation("acme", Channel::Whatsapp, at(1)).await;
    for (email, role) in [("viewer@acme.mx", Role::Viewer), ("agent@acme.mx", Role::Agent)] {
        let user = member(&w.app.core, "acme", email, role).await;
        let (status, page) = w.send(ApiRequest::new("GET /v1/conversations").as_user(&user)).await;
        assert_eq!((status, ids(&page)), (200, vec![id.to_string()]));
    }
}

fn inbound(conversation: &ConversationId, contact: &str, wamid: &str, created_at: OffsetDateTime) -> Message {
    let contact = ContactId::parse(contact).unwrap_or_else(|e| panic!("{e}"));
    gestor_shared::testing::text_message(conversation, &contact, Direction::In, wamid, created_at)
}

#[tokio::test]
async fn messages_read_in_the_channels_order_both_ways_and_by_pages() {
    let w = world().await;
    let (contact, id) = w.thread(at(3)).await;
    let messages = MessageRepo::new(w.app.core.table.clone());
    // Delivered out of order: the late retry of minute 1 lands first in the thread.
    for (wamid, minute) in [("wamid.C", 3), ("wamid.A", 1), ("wamid.D", 4), ("wamid.B", 2), ("wamid.A", 1)] {
        let message = inbound(&id, contact.as_str(), wamid, at(minute));
        match messages.insert_once(&tenant("acme"), &message).await {
            Ok(Inserted::Created(_) | Inserted::AlreadyThere(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let list = |query: &[(&str, &str)]| {
        let mut r =
            ApiRequest::new("GET /v1/conversations/{id}/messages").param("id", id.as_str()).as_user(&w.owner);
        for (k, v) in query {
            r = r.query(k, v);
        }
        r
    };
    let wamids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["channel_message_id"].as_str().map(str::to_owned))
            .collect()
    };
    let (status, page) = w.send(list(&[])).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(wamids(&page), vec!["wamid.A", "wamid.B", "wamid.C", "wamid.D"]);
    assert_eq!(page["items"][0]["direction"], "in");
    assert_eq!(page["items"][0]["status"], "received");
    assert_eq!(page["items"][0]["created_at"], "2026-11-28T10:01:00Z");
    let (_, newest) = w.send(list(&[("order", "desc")])).await;
    assert_eq!(wamids(&newest), vec!["wamid.D", "wamid.C", "wamid.B", "wamid.A"]);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut q = vec![("limit", "3"), ("order", "desc")];
        if let Some(c) = cursor.as_deref() {
            q.push(("cursor", c));
        }
        let (status, page) = w.send(list(&q)).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(wamids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["wamid.D", "wamid.C", "wamid.B", "wamid.A"]);
    let (_, first) = w.send(list(&[("limit", "1")])).await;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let (status, _) = w.send(list(&[("order", "desc"), ("cursor", &cursor)])).await;
    assert_eq!(status, 400, "a cursor is bound to its order");
    let (status, body) = w.send(list(&[("order", "sideways")])).await;
    assert_eq!((status, fields(&body)), (400, vec!["order".to_owned()]));

    let (_, conversation) = w
        .send(ApiRequest::new("GET /v1/conversations/{id}").param("id", id.as_str()).as_user(&w.owner))
        .await;
    assert_eq!(conversation["unread_count"], 4, "each message counted once");
    assert_eq!(conversation["last_message_at"], "2026-11-28T10:04:00Z");
}

#[test]
fn the_openapi_part_documents_every_route() {
    let doc = serde_json::to_value(crate::openapi()).unwrap_or_default();
    for route in crate::Conversations::route_table() {
        let method = route.method().to_ascii_lowercase();
        assert!(doc["paths"][route.path()][&method].is_object(), "{} is not documented", route.key);
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Conversation"]["properties"]["channel"]["enum"][0], "whatsapp");
    assert_eq!(schemas["Message"]["properties"]["channel"]["enum"][3], "tiktok");
    assert!(schemas["Conversation"]["properties"].get("rev").is_none());
}

#[tokio::test]
async fn a_downloaded_file_is_answered_as_a_presigned_url_never_stored() {
    let w = world().await;
    let (contact, id) = w.thread(at(1)).await;
    let messages = MessageRepo::new(w.app.core.table.clone());
    let mut photo = inbound(&id, contact.as_str(), "wamid.IMG", at(1));
    photo.kind = MessageKind::Image;
    photo.media = Some(Media { channel_media_id: Some("1234".into()), ..Media::default() });
    let key = format!("acme/media/{}", photo.id);
    if let Err(e) = messages.insert_once(&tenant("acme"), &photo).await {
        panic!("{e}");
    }
    if let Err(e) = w.files.put(&key, b"jpeg bytes".to_vec(), "image/jpeg").await {
        panic!("{e}");
    }
    let acme = tenant("acme");
    let by = gestor_shared::repo::audit::Actor::system("deferred");
    let attach = || {
        messages.attach_media_file(
            &acme,
            &by,
            Channel::Whatsapp,
            "wamid.IMG",
            10,
            "ab12",
            &key,
            Some("image/jpeg"),
        )
    };
    let attached = attach().await;
    assert!(matches!(attached, Ok(Change::Applied(_))), "{attached:?}");
    let again = attach().await;
    assert!(matches!(again, Ok(Change::Stale)), "attaching is idempotent: {again:?}");
    let text = inbound(&id, contact.as_str(), "wamid.TXT", at(2));
    if let Err(e) = messages.insert_once(&tenant("acme"), &text).await {
        panic!("{e}");
    }

    let request =
        ApiRequest::new("GET /v1/conversations/{id}/messages").param("id", id.as_str()).as_user(&w.owner);
    let (status, page) = w.send(request).await;
    assert_eq!(status, 200, "{page}");
    let media = &page["items"][0]["media"];
    assert_eq!(media["file_key"], key.as_str());
    assert_eq!(media["sha256"], "ab12");
    assert_eq!(media["size"], 10);
    let url = media["url"].as_str().unwrap_or_else(|| panic!("no media url: {page}"));
    let (path, query) = url.split_once('?').unwrap_or_else(|| panic!("{url}"));
    assert_eq!(path, format!("http://127.0.0.1:3000/files/{key}"));
    let param = |name: &str| {
        query.split('&').find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{url}"))
    };
    let expires: u64 = param("expires").parse().unwrap_or_else(|e| panic!("{e}"));
    let now = std::time::SystemTime::now();
    let in_secs =
        expires.saturating_sub(now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    assert!((14 * 60..=15 * 60).contains(&in_secs), "valid for 15 minutes: {in_secs}");
    let object = w.files.open_presigned(&key, param("expires"), param("signature"), now);
    assert_eq!(object.map(|o| o.bytes).ok(), Some(b"jpeg bytes".to_vec()), "LocalFiles signed it");
    assert!(page["items"][1].get("media").is_none_or(Value::is_null), "no media, no url: {page}");

    let stored = messages.find_by_channel_id(&tenant("acme"), Channel::Whatsapp, "wamid.IMG").await;
    let stored = stored.ok().flatten().and_then(|m| m.media).unwrap_or_default();
    assert_eq!(stored.file_key.as_deref(), Some(key.as_str()));
    let items =
        w.app.core.table.query(gestor_shared::ports::Query::table(format!("acme#MESSAGES#{id}"))).await;
    let raw = serde_json::to_string(&items.map(|p| p.items).unwrap_or_default()).unwrap_or_default();
    assert!(raw.contains(&key) && !raw.contains("signature="), "the URL is never stored: {raw}");
}

mod opposition;
mod uploads;
mod writes;
