//! Accounts of different businesses on one WhatsApp Business Account, connecting and leaving
//! at the same moment: the app stays subscribed while any of them is active.

use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::ports::Table;
use gestor_shared::repo::channels::{Channel, ChannelRepo};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{PHONE_ID, WABA, id, tenant, token_is, world};

const OTHER_PHONE: &str = "106540352242923";

/// Meta unsubscribing the app, during which another business's number on the same WABA is
/// connected (its transaction commits while the call is in flight).
struct NeighbourJoinsMidway {
    table: Arc<dyn Table>,
    cipher: TokenCipher,
}

impl Respond for NeighbourJoinsMidway {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let (table, cipher) = (self.table.clone(), self.cipher.clone());
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build();
            let Ok(runtime) = runtime else { return false };
            runtime.block_on(async {
                let repo = ChannelRepo::new(table);
                let token = Secret::new("EAAGrival");
                let rival = tenant("rival");
                let connected = repo
                    .connect(&rival, Channel::Whatsapp, OTHER_PHONE, "Rival", &token, &cipher, Some(WABA))
                    .await;
                connected.is_ok()
            })
        })
        .join();
        assert!(matches!(joined, Ok(true)), "the neighbour was not connected");
        ResponseTemplate::new(200).set_body_json(json!({"success": true}))
    }
}

#[tokio::test]
async fn a_number_connected_while_its_neighbour_leaves_keeps_the_webhooks() {
    let w = world().await;
    token_is(
        &w,
        "EAAGacme",
        json!({"is_valid": true, "type": "SYSTEM_USER", "granular_scopes": [
        {"scope": "whatsapp_business_management", "target_ids": [WABA]},
        {"scope": "whatsapp_business_messaging", "target_ids": [WABA]}]}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{WABA}/phone_numbers")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": PHONE_ID}]})))
        .mount(&w.graph)
        .await;
    let subscribed_apps = format!("/v21.0/{WABA}/subscribed_apps");
    Mock::given(method("POST"))
        .and(path(subscribed_apps.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&w.graph)
        .await;
    Mock::given(method("DELETE"))
        .and(path(subscribed_apps.clone()))
        .respond_with(NeighbourJoinsMidway { table: w.channels.core.table.clone(), cipher: w.cipher.clone() })
        .mount(&w.graph)
        .await;
    let (status, ours) = w
        .connect(&w.owner, json!({"kind": "whatsapp", "external_id": PHONE_ID, "access_token": "EAAGacme"}))
        .await;
    assert_eq!(status, 201, "{ours}");

    let deactivate = gestor_shared::testing::ApiRequest::new("DELETE /v1/channels/{id}")
        .param("id", &id(&ours))
        .as_user(&w.owner);
    assert_eq!(w.send(deactivate).await.0, 204);
    let calls: Vec<String> = w
        .requests()
        .await
        .iter()
        .filter(|r| r.url.path() == subscribed_apps)
        .map(|r| r.method.to_string())
        .collect();
    // Subscribed on connection, unsubscribed as the last one out seen then, and subscribed
    // again for the number that joined meanwhile.
    assert_eq!(calls, ["POST", "DELETE", "POST"]);
}

#[tokio::test]
async fn a_connection_that_fails_leaves_no_note_behind() {
    use gestor_shared::ports::Query;
    use gestor_shared::testing::doubles::FailingTable;
    let w = world().await;
    // A throttled transaction: the one that writes the note with the account.
    let failing = FailingTable {
        writing: "SUBSCRIBER#",
        fail_transactions: std::sync::atomic::AtomicUsize::new(1),
        ..FailingTable::new(w.channels.core.table.clone())
    };
    let repo = ChannelRepo::new(Arc::new(failing));
    let acme = tenant("acme");
    let token = Secret::new("EAAGacme");
    let connect = || repo.connect(&acme, Channel::Whatsapp, PHONE_ID, "Acme", &token, &w.cipher, Some(WABA));
    assert!(connect().await.is_err());
    let notes = w.channels.core.table.query(Query::table(format!("SUBSCRIBER#{WABA}")).limit(5)).await;
    assert_eq!(notes.map(|p| p.items.len()).ok(), Some(0), "no note without its account");
    assert_eq!(
        repo.route(Channel::Whatsapp, PHONE_ID).await.ok().flatten(),
        None,
        "and no account without its note"
    );
    assert!(connect().await.is_ok());
    let notes = w.channels.core.table.query(Query::table(format!("SUBSCRIBER#{WABA}")).limit(5)).await;
    assert_eq!(notes.map(|p| p.items.len()).ok(), Some(1));
}
