//! Row scoping through the local server: with the business's `row_scoping` on, an agent
//! reaches only the conversations assigned to them or to their team, and the contacts they own
//! or whose conversation they reach, on every route (list, get, change, reply, read, messages);
//! a manager reaches everything, and with the setting off so does the agent.

use gestor_local::BackendKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::local_server::{Server, local_settings, meta_signature, start};

const NUMBER: &str = "106540352242922";

async fn customer_writes(server: &Server, secret: &str, wa_id: &str, name: &str) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body =
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": format!("wamid.SCOPE{wa_id}"), "timestamp": now.to_string(),
                      "type": "text", "text": {"body": "Hola"}}]}}]}]})
        .to_string();
    let posted = server
        .http
        .post(format!("{}/webhooks/whatsapp", server.base))
        .header("x-hub-signature-256", meta_signature(secret, body.as_bytes()))
        .body(body)
        .send()
        .await;
    assert!(posted.is_ok_and(|r| r.status() == StatusCode::OK));
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn agents_reach_only_their_own_and_their_teams_rows_when_the_business_scopes_rows() {
    let settings = local_settings();
    let secret = settings.get(gestor_shared::settings::Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;
    let owner = server.token("tienda-scope", "duena@scope.mx", "owner").await;
    let agent = server.token("tienda-scope", "agente@scope.mx", "agent").await;
    let other = server.token("tienda-scope", "otro@scope.mx", "agent").await;
    let manager = server.token("tienda-scope", "gerente@scope.mx", "manager").await;
    let (_, me) = server.send("GET", "/v1/me", Some(&agent), None).await;
    let (_, other_me) = server.send("GET", "/v1/me", Some(&other), None).await;
    let (agent_id, other_id) = (me["id"].clone(), other_me["id"].clone());

    let channel = json!({"tenant_id": "tienda-scope", "kind": "whatsapp", "external_id": NUMBER});
    server.send("POST", "/dev/channel", None, Some(channel)).await;
    for (wa_id, name) in [
        ("5215510000001", "Mía"),
        ("5215510000002", "Equipo"),
        ("5215510000003", "Ajena"),
        ("5215510000004", "Nadie"),
    ] {
        customer_writes(&server, &secret, wa_id, name).await;
    }
    let mut inbox = Vec::new();
    for _ in 0..500 {
        let (_, list) = server.send("GET", "/v1/conversations", Some(&owner), None).await;
        inbox = list["items"].as_array().cloned().unwrap_or_default();
        if inbox.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(inbox.len(), 4, "every customer's conversation arrived");
    // Each customer's contact and conversation, found by phone.
    let mut rows = Vec::new();
    for n in 1..=4 {
        let (_, found) =
            server.send("GET", &format!("/v1/contacts?phone=%2B521551000000{n}"), Some(&owner), None).await;
        let contact = found["items"][0]["id"].as_str().unwrap_or_default().to_owned();
        let conversation =
            inbox.iter().find(|c| c["contact_id"] == contact.as_str()).map(|c| c["id"].clone());
        rows.push((conversation.and_then(|c| c.as_str().map(str::to_owned)).unwrap_or_default(), contact));
    }
    assert!(rows.iter().all(|(cv, ct)| !cv.is_empty() && !ct.is_empty()), "{rows:?}");
    let [(mine, mine_contact), (team_conversation, team_contact), (theirs, theirs_contact), (nobodys, _)] =
        <[(String, String); 4]>::try_from(rows).unwrap_or_else(|_| panic!("four conversations"));

    let (status, team) = server
        .send("POST", "/v1/teams", Some(&owner), Some(json!({"name": "Ventas", "member_ids": [agent_id]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    for (conversation, change) in [
        (&mine, json!({"assignee_id": agent_id})),
        (&team_conversation, json!({"team_id": team["id"]})),
        (&theirs, json!({"assignee_id": other_id})),
    ] {
        let (status, answer) = server
            .send("PATCH", &format!("/v1/conversations/{conversation}"), Some(&owner), Some(change))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    // A contact the agent owns, with no conversation.
    let (_, owned) = server
        .send(
            "POST",
            "/v1/contacts",
            Some(&owner),
            Some(json!({"name": "Cliente propia", "owner_id": agent_id})),
        )
        .await;
    let owned = owned["id"].as_str().unwrap_or_default().to_owned();

    // Off (the default): the agent reaches every row.
    let (_, list) = server.send("GET", "/v1/conversations", Some(&agent), None).await;
    assert_eq!(ids(&list).len(), 4);
    let (status, _) = server.send("GET", &format!("/v1/conversations/{theirs}"), Some(&agent), None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, answer) =
        server.send("PATCH", "/v1/tenant", Some(&owner), Some(json!({"row_scoping": true}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (_, list) = server.send("GET", "/v1/conversations", Some(&agent), None).await;
    let mut seen = ids(&list);
    seen.sort();
    let mut expected = vec![mine.clone(), team_conversation.clone()];
    expected.sort();
    assert_eq!(seen, expected, "the agent's inbox holds their own and their team's conversations");
    for hidden in [&theirs, &nobodys] {
        for (method, path, body) in [
            ("GET", format!("/v1/conversations/{hidden}"), None),
            ("GET", format!("/v1/conversations/{hidden}/messages"), None),
            ("PATCH", format!("/v1/conversations/{hidden}"), Some(json!({"status": "resolved"}))),
            ("POST", format!("/v1/conversations/{hidden}/messages"), Some(json!({"text": "Hola"}))),
            (
                "POST",
                format!("/v1/conversations/{hidden}/messages"),
                Some(json!({"text": "nota", "private": true})),
            ),
            ("POST", format!("/v1/conversations/{hidden}/read"), None),
        ] {
            let (status, answer) = server.send(method, &path, Some(&agent), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        }
    }
    for visible in [&mine, &team_conversation] {
        let (status, _) =
            server.send("GET", &format!("/v1/conversations/{visible}/messages"), Some(&agent), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Nothing the agent was refused changed the conversation.
    let (_, untouched) = server.send("GET", &format!("/v1/conversations/{theirs}"), Some(&owner), None).await;
    assert_eq!(untouched["status"], "open");
    assert_eq!(untouched["unread_count"], 1);

    // Contacts: the ones they own are listed; the ones of their conversations open by id.
    let (_, contacts) = server.send("GET", "/v1/contacts", Some(&agent), None).await;
    assert_eq!(ids(&contacts), vec![owned.clone()]);
    for reachable in [&owned, &mine_contact, &team_contact] {
        let (status, answer) =
            server.send("GET", &format!("/v1/contacts/{reachable}"), Some(&agent), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, _) = server.send("GET", &format!("/v1/contacts/{theirs_contact}"), Some(&agent), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.send("GET", "/v1/contacts?phone=%2B5215510000003", Some(&agent), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, found) = server.send("GET", "/v1/contacts?phone=%2B5215510000003", Some(&agent), None).await;
    assert!(ids(&found).is_empty(), "a search does not reach a contact out of scope: {found}");

    // An agent may take a contact nobody owns; giving one away, or taking another's, is a
    // manager's call.
    let (status, answer) = server
        .send(
            "PATCH",
            &format!("/v1/contacts/{mine_contact}"),
            Some(&agent),
            Some(json!({"owner_id": agent_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "an agent takes a contact nobody owned: {answer}");
    let (status, answer) = server
        .send(
            "PATCH",
            &format!("/v1/contacts/{mine_contact}"),
            Some(&other),
            Some(json!({"owner_id": other_id})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not the other agent's row: {answer}");
    let (status, answer) = server
        .send("PATCH", &format!("/v1/contacts/{owned}"), Some(&agent), Some(json!({"owner_id": other_id})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // Their new contact is theirs; one whose phone another contact holds is refused without
    // saying which contact that is.
    let (status, created) =
        server.send("POST", "/v1/contacts", Some(&agent), Some(json!({"name": "Nueva"}))).await;
    assert_eq!((status, &created["owner_id"]), (StatusCode::CREATED, &agent_id), "{created}");
    let taken = json!({"name": "Copia", "phones": ["+5215510000003"]});
    let (status, conflict) = server.send("POST", "/v1/contacts", Some(&agent), Some(taken.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert!(!conflict.to_string().contains(&theirs_contact), "{conflict}");
    let (_, conflict) = server.send("POST", "/v1/contacts", Some(&manager), Some(taken)).await;
    assert!(conflict.to_string().contains(&theirs_contact), "a manager is told: {conflict}");

    // A manager reaches every row under the same setting.
    let (_, list) = server.send("GET", "/v1/conversations", Some(&manager), None).await;
    assert_eq!(ids(&list).len(), 4);
    let (_, contacts) = server.send("GET", "/v1/contacts", Some(&manager), None).await;
    assert_eq!(ids(&contacts).len(), 6);
    let (status, _) =
        server.send("GET", &format!("/v1/contacts/{theirs_contact}"), Some(&manager), None).await;
    assert_eq!(status, StatusCode::OK);
}
