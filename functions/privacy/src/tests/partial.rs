//! A partial cancellation: the chosen conversations, messages or fields erased (hidden the
//! moment it is filed), the rest of the contact kept.

use gestor_shared::domain::{Channel, Direction, Email};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::ports::FileError;
use gestor_shared::repo::contacts::ContactRepo;
use gestor_shared::repo::conversations::ConversationRepo;
use gestor_shared::repo::messages::{MessageOrder, MessageRepo};
use serde_json::json;

use super::erasure::customer;
use super::{acme, world};

#[tokio::test]
async fn chosen_conversations_messages_and_fields_go_and_the_rest_stays() {
    let w = world().await;
    let table = w.app.core.table.clone();
    let ana = customer(&w, "5215512340021", "Ana Parcial").await;
    let bea = customer(&w, "5215512340022", "Bea Otra").await;
    // A second conversation of hers, on another number of the business.
    let at = time::OffsetDateTime::now_utc();
    let conversations = ConversationRepo::new(table.clone());
    let (second, _) = conversations
        .open_for(&acme(), &ana.contact.id, Channel::Whatsapp, &ChannelAccountId::new(), at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let messages = MessageRepo::new(table.clone());
    let kept =
        gestor_shared::testing::text_message(&second.id, &ana.contact.id, Direction::In, "wamid.P21K", at);
    let gone =
        gestor_shared::testing::text_message(&second.id, &ana.contact.id, Direction::In, "wamid.P21G", at);
    for message in [&kept, &gone] {
        messages.insert_once(&acme(), message).await.unwrap_or_else(|e| panic!("{e}"));
    }

    // One conversation: hidden at once, then erased with its messages, file and parked status.
    let first = ana.conversation.id.as_str();
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()},
                      "details": {"conversation_ids": [first]}});
    let (status, filed) = w.file(&w.admin, body.clone()).await;
    assert_eq!(status, 202, "{filed}");
    assert_eq!(conversations.get(&acme(), &ana.conversation.id).await.ok().flatten().map(|c| c.id), None);
    assert!(conversations.get(&acme(), &second.id).await.ok().flatten().is_some());
    assert!(w.stored(&ana.contact).await.is_some(), "the contact stays");
    // A whole cancellation is not answered with this part.
    let whole = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()}});
    assert_eq!(w.file(&w.admin, whole.clone()).await.0, 409);
    assert_eq!(w.file(&w.admin, body).await.1["id"], filed["id"], "the same part: the same request");
    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.admin, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let counts = &done["result"]["counts"];
    assert_eq!(
        (&counts["conversations"], &counts["messages"], &counts["files"]),
        (&json!(1), &json!(2), &json!(1)),
        "{done}"
    );
    assert_eq!(counts["erased_message_ids"], 2, "{done}");
    assert!(matches!(w.backend.files.get(&ana.file).await, Err(FileError::NotFound)));
    let ids = gestor_shared::repo::erased::ErasedIds::from_settings(
        &gestor_shared::settings::Settings::local_with(|_| None),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ids.is_erased(table.as_ref(), &acme(), "whatsapp", "wamid.5215512340021A").await.ok(),
        Some(true)
    );
    assert_eq!(ids.is_erased(table.as_ref(), &acme(), "whatsapp", "wamid.P21K").await.ok(), Some(false));
    let (left, _) =
        messages.list(&acme(), &second.id, MessageOrder::OldestFirst, 10, None).await.unwrap_or_default();
    assert_eq!(left.len(), 2, "the other conversation keeps its messages");

    // One message: out of the list the moment it is filed.
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()},
                      "details": {"message_ids": [gone.id.as_str()]}});
    let (status, filed) = w.file(&w.admin, body).await;
    assert_eq!(status, 202, "{filed}");
    let (left, _) =
        messages.list(&acme(), &second.id, MessageOrder::OldestFirst, 10, None).await.unwrap_or_default();
    assert_eq!(left.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![kept.id.clone()]);
    assert!(w.work().await >= 1);
    assert_eq!(ids.is_erased(table.as_ref(), &acme(), "whatsapp", "wamid.P21G").await.ok(), Some(true));
    assert!(
        messages.find_by_channel_id(&acme(), Channel::Whatsapp, "wamid.P21G").await.ok().flatten().is_none()
    );

    // Fields: emptied, their claims with them.
    let contacts = ContactRepo::new(table.clone());
    let email = Email::parse("ana.parcial@correo.mx").unwrap_or_else(|e| panic!("{e}"));
    let current = w.stored(&ana.contact).await.unwrap_or_else(|| panic!("kept"));
    let mut with_email = current.clone();
    with_email.emails = vec![email.clone()];
    with_email.version += 1;
    contacts.replace(&acme(), &current, &with_email).await.unwrap_or_else(|e| panic!("{e}"));
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()},
                      "details": {"fields": ["name", "emails"]}});
    let (status, filed) = w.file(&w.admin, body).await;
    assert_eq!(status, 202, "{filed}");
    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.admin, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(
        (&done["status"], &done["result"]["counts"]["fields"]),
        (&json!("completed"), &json!(2)),
        "{done}"
    );
    let after = w.stored(&ana.contact).await.unwrap_or_else(|| panic!("kept"));
    assert_eq!((after.name, after.emails.len(), after.phones.len()), (None, 0, 1));
    assert_eq!(contacts.id_by_email(&acme(), &email).await.ok().flatten(), None);

    // Another's message, an unknown field, two ways at once: refused, nothing stored.
    let theirs = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()},
                        "details": {"conversation_ids": [bea.conversation.id.as_str()]}});
    let (status, problem) = w.file(&w.admin, theirs).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "details.conversation_ids[0]", "{problem}");
    let unknown = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()},
                         "details": {"fields": ["lifecycle"]}});
    assert_eq!(w.file(&w.admin, unknown).await.0, 400);
    let two = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()},
                     "details": {"fields": ["name"], "message_ids": [kept.id.as_str()]}});
    assert_eq!(w.file(&w.admin, two).await.0, 400);
    assert!(conversations.get(&acme(), &bea.conversation.id).await.ok().flatten().is_some());
    // Once the parts are done, a whole one is accepted.
    assert_eq!(w.file(&w.admin, whole).await.0, 202);
}

#[tokio::test]
async fn chosen_media_leave_their_messages_which_stay_with_their_text() {
    let w = world().await;
    let table = w.app.core.table.clone();
    let carmen = customer(&w, "5215512340025", "Carmen Media").await;
    let messages = MessageRepo::new(table.clone());
    let listed = || async {
        let (page, _) = messages
            .list(&acme(), &carmen.conversation.id, MessageOrder::OldestFirst, 10, None)
            .await
            .unwrap_or_default();
        page
    };
    // A photo whose caption the channel's mapping copied into the text.
    let mut photo = gestor_shared::testing::text_message(
        &carmen.conversation.id,
        &carmen.contact.id,
        Direction::In,
        "wamid.CAPTION1",
        time::OffsetDateTime::now_utc(),
    );
    photo.text = Some("foto de mi receta".into());
    photo.media = Some(gestor_shared::repo::messages::Media {
        channel_media_id: Some("5566".into()),
        mime_type: Some("image/jpeg".into()),
        filename: None,
        caption: Some("foto de mi receta".into()),
        size: None,
        sha256: None,
        file_key: None,
    });
    messages.insert_once(&acme(), &photo).await.unwrap_or_else(|e| panic!("{e}"));
    let before = listed().await;
    let with_media = before
        .iter()
        .find(|m| m.media.is_some() && m.id != photo.id)
        .map(|m| m.id.to_string())
        .unwrap_or_default();
    let without = before.iter().find(|m| m.media.is_none()).map(|m| m.id.to_string()).unwrap_or_default();
    let subject = json!({"contact_id": carmen.contact.id.as_str()});

    let body =
        json!({"kind": "cancellation", "subject": subject, "details": {"media_message_ids": [without]}});
    let (status, problem) = w.file(&w.admin, body).await;
    assert_eq!(status, 400, "a message without media: {problem}");
    let body = json!({"kind": "cancellation", "subject": subject,
                      "details": {"media_message_ids": [with_media, photo.id.as_str()]}});
    let (status, filed) = w.file(&w.admin, body).await;
    assert_eq!(status, 202, "{filed}");
    // Off the message the moment it is filed; the text stays.
    let now = listed().await;
    let message = now.iter().find(|m| m.id.as_str() == with_media);
    assert_eq!(message.map(|m| m.media.is_none()), Some(true), "{now:?}");
    assert!(message.and_then(|m| m.text.clone()).is_some_and(|t| t.contains("Carmen Media")));
    let captioned = now.iter().find(|m| m.id == photo.id);
    assert_eq!(
        captioned.map(|m| (m.media.is_none(), m.text.is_none())),
        Some((true, true)),
        "the caption goes"
    );

    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.admin, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(
        (&done["status"], &done["result"]["counts"]["media"]),
        (&json!("completed"), &json!(2)),
        "{done}"
    );
    assert!(matches!(w.backend.files.get(&carmen.file).await, Err(FileError::NotFound)));
    assert_eq!(listed().await.len(), before.len(), "every message stays");
    assert!(w.stored(&carmen.contact).await.is_some());
}
