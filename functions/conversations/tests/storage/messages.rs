use gestor_shared::ids::ConversationId;
use gestor_shared::inbound::Channel;
use gestor_shared::repo::audit::Actor;
use gestor_shared::repo::conversations::Conversation;
use gestor_shared::repo::messages::{
    Change, Direction, Inserted, Message, MessageError, MessageFailure, MessageKind, MessageOrder,
    MessageRepo, MessageStatus, Reaction, StatusChange,
};
use gestor_shared::repo::personal::keys_of_subject;
use time::OffsetDateTime;

use crate::{World, at, tenant, world};

/// The channel account the tests' updates come from.
fn by() -> Actor {
    Actor::channel("ca_test")
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn message(c: &Conversation, direction: Direction, wamid: &str, created_at: OffsetDateTime) -> Message {
    gestor_shared::testing::text_message(&c.id, &c.contact_id, direction, wamid, created_at)
}

fn repo(w: &World) -> MessageRepo {
    MessageRepo::new(w.core.table.clone())
}

async fn thread(w: &World, id: &ConversationId, order: MessageOrder) -> Vec<String> {
    let (items, _) = ok(repo(w).list(&w.tenant, id, order, 200, None).await);
    items.into_iter().filter_map(|m| m.channel_message_id).collect()
}

async fn unread(w: &World, c: &Conversation) -> u64 {
    ok(w.conversations.get(&w.tenant, &c.id).await).map(|c| c.unread_count).unwrap_or_default()
}

// Several worker threads, so that the racing writes really interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channel_message_is_stored_and_counted_once_however_often_delivered() {
    let w = world().await;
    let c = w.conversation(1).await;
    let first = message(&c, Direction::In, "wamid.ONE", at(1));
    for attempt in 0..5 {
        match ok(repo(&w).insert_once(&w.tenant, &first).await) {
            Inserted::Created(m) => assert_eq!((attempt, m.id), (0, first.id.clone())),
            Inserted::AlreadyThere(m) => assert!(attempt > 0 && m == first),
        }
    }
    // Five workers at once, each with its own fresh message id for the same delivery.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (repo, tenant, m) = (repo(&w), w.tenant.clone(), message(&c, Direction::In, "wamid.TWO", at(2)));
        tasks.push(tokio::spawn(async move { repo.insert_once(&tenant, &m).await }));
    }
    let mut created = Vec::new();
    let mut repeats = Vec::new();
    for task in tasks {
        match ok(ok(task.await)) {
            Inserted::Created(m) => created.push(m.id),
            Inserted::AlreadyThere(m) => repeats.push(m.id),
        }
    }
    assert_eq!(created.len(), 1);
    assert!(repeats.iter().all(|id| *id == created[0]), "a repeat answers the stored message");
    assert_eq!(thread(&w, &c.id, MessageOrder::OldestFirst).await, vec!["wamid.ONE", "wamid.TWO"]);
    assert_eq!(unread(&w, &c).await, 2);
    let found = ok(repo(&w).find_by_channel_id(&w.tenant, Channel::Whatsapp, "wamid.TWO").await);
    assert_eq!(found.map(|m| m.id), Some(created[0].clone()));
    // The same id on another channel is another message.
    assert!(ok(repo(&w).find_by_channel_id(&w.tenant, Channel::Messenger, "wamid.TWO").await).is_none());
}

#[tokio::test]
async fn messages_sit_in_the_channels_order_whenever_they_arrive() {
    let w = world().await;
    let c = w.conversation(5).await;
    for (wamid, minute) in [("wamid.5", 5), ("wamid.2", 2), ("wamid.9", 9), ("wamid.1", 1), ("wamid.7", 7)] {
        ok(repo(&w).insert_once(&w.tenant, &message(&c, Direction::In, wamid, at(minute))).await);
    }
    let reply = message(&c, Direction::Out, "wamid.OUT", at(8));
    ok(repo(&w).insert_once(&w.tenant, &reply).await);
    let expected = ["wamid.1", "wamid.2", "wamid.5", "wamid.7", "wamid.OUT", "wamid.9"];
    assert_eq!(thread(&w, &c.id, MessageOrder::OldestFirst).await, expected);
    let mut newest = expected.to_vec();
    newest.reverse();
    assert_eq!(thread(&w, &c.id, MessageOrder::NewestFirst).await, newest);
    let now = ok(w.conversations.get(&w.tenant, &c.id).await).unwrap_or_else(|| panic!("gone"));
    assert_eq!((now.last_message_at, now.unread_count), (at(9), 5), "outbound is not unread");

    let mut pages = Vec::new();
    let mut start = None;
    for _ in 0..10 {
        let (page, last) = ok(repo(&w).list(&w.tenant, &c.id, MessageOrder::OldestFirst, 4, start).await);
        pages.extend(page.into_iter().filter_map(|m| m.channel_message_id));
        start = last;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(pages, expected);
}

// Several worker threads, so that the racing writes really interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statuses_only_move_forward() {
    let w = world().await;
    let c = w.conversation(1).await;
    let messages = repo(&w);
    let advance = |wamid: &'static str, status: MessageStatus, minute: i64| {
        let (messages, tenant) = (messages.clone(), w.tenant.clone());
        let error = (status == MessageStatus::Failed)
            .then(|| MessageFailure { code: "131047".into(), title: "Re-engagement message".into() });
        async move {
            ok(messages
                .advance_status(&tenant, &by(), Channel::Whatsapp, wamid, status, error, at(minute))
                .await)
        }
    };
    for wamid in ["wamid.A", "wamid.B", "wamid.C"] {
        ok(messages.insert_once(&w.tenant, &message(&c, Direction::Out, wamid, at(1))).await);
    }
    assert!(matches!(advance("wamid.A", MessageStatus::Sent, 2).await, StatusChange::Moved(_)));
    let StatusChange::Moved(read) = advance("wamid.A", MessageStatus::Read, 4).await else {
        panic!("not moved")
    };
    assert_eq!((read.status, read.status_at), (MessageStatus::Read, Some(at(4))));
    assert_eq!(advance("wamid.A", MessageStatus::Delivered, 3).await, StatusChange::Stale);
    assert_eq!(advance("wamid.A", MessageStatus::Failed, 5).await, StatusChange::Stale);
    assert_eq!(advance("wamid.A", MessageStatus::Read, 4).await, StatusChange::Stale, "a repeat is stale");

    let StatusChange::Moved(failed) = advance("wamid.B", MessageStatus::Failed, 2).await else {
        panic!("not moved")
    };
    assert_eq!(failed.error.map(|e| e.code), Some("131047".to_owned()));
    assert_eq!(advance("wamid.B", MessageStatus::Delivered, 3).await, StatusChange::Stale, "failed is final");
    assert_eq!(advance("wamid.NOPE", MessageStatus::Sent, 2).await, StatusChange::Unknown);

    // Reordered and concurrent: whatever the interleaving, the furthest status stays.
    let mut tasks = Vec::new();
    for status in [MessageStatus::Delivered, MessageStatus::Sent, MessageStatus::Read, MessageStatus::Sending]
    {
        tasks.push(tokio::spawn(advance("wamid.C", status, 3)));
    }
    for task in tasks {
        ok(task.await);
    }
    let c_now = ok(messages.find_by_channel_id(&w.tenant, Channel::Whatsapp, "wamid.C").await);
    assert_eq!(c_now.map(|m| m.status), Some(MessageStatus::Read));

    // An inbound message has no delivery to track.
    ok(messages.insert_once(&w.tenant, &message(&c, Direction::In, "wamid.IN", at(2))).await);
    assert_eq!(advance("wamid.IN", MessageStatus::Read, 3).await, StatusChange::Stale);
}

#[test]
fn the_status_order_is_the_documented_one() {
    use MessageStatus::*;
    let forward = [Queued, Sending, Sent, Delivered, Read];
    for (i, from) in forward.iter().enumerate() {
        for (j, to) in forward.iter().enumerate() {
            assert_eq!(from.can_become(*to), j > i, "{from:?} -> {to:?}");
        }
        assert_eq!(from.can_become(Failed), i < 3, "{from:?} -> failed");
    }
    for to in [Received, Queued, Sending, Sent, Delivered, Read, Failed] {
        assert!(!Failed.can_become(to) && !Received.can_become(to) && !to.can_become(Received));
    }
}

#[test]
fn a_kind_this_code_does_not_know_reads_as_unsupported() {
    let kind: Result<MessageKind, _> = serde_json::from_value(serde_json::json!("hologram"));
    assert_eq!(kind.ok(), Some(MessageKind::Unsupported));
    let kind: Result<MessageKind, _> = serde_json::from_value(serde_json::json!("story_mention"));
    assert_eq!(kind.ok(), Some(MessageKind::StoryMention));
}

#[tokio::test]
async fn reactions_keep_each_reactors_latest_event() {
    let w = world().await;
    let c = w.conversation(1).await;
    let messages = repo(&w);
    ok(messages.insert_once(&w.tenant, &message(&c, Direction::Out, "wamid.R", at(1))).await);
    let from = c.contact_id.to_string();
    let react =
        |emoji: &str, minute: i64| Reaction { emoji: emoji.into(), from: from.clone(), at: at(minute) };
    let add = |r: Reaction| {
        let (messages, tenant) = (messages.clone(), w.tenant.clone());
        async move { ok(messages.add_reaction(&tenant, &by(), Channel::Whatsapp, "wamid.R", &r).await) }
    };
    let emojis = |change: &Change| match change {
        Change::Applied(m) => m.reactions.iter().map(|r| r.emoji.clone()).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(emojis(&add(react("👍", 3)).await), vec!["👍"]);
    assert_eq!(add(react("👍", 3)).await, Change::Stale, "a repeat");
    assert_eq!(add(react("❤️", 2)).await, Change::Stale, "an older one delivered late");
    assert_eq!(emojis(&add(react("😂", 4)).await), vec!["😂"], "a newer one replaces");
    let business = Reaction { emoji: "🙏".into(), from: "business".into(), at: at(4) };
    assert_eq!(emojis(&add(business).await), vec!["😂", "🙏"]);

    let removed =
        ok(messages.remove_reaction(&w.tenant, &by(), Channel::Whatsapp, "wamid.R", &from, at(5)).await);
    assert_eq!(emojis(&removed), vec!["🙏"]);
    assert_eq!(add(react("👍", 4)).await, Change::Stale, "an add older than its removal stays removed");
    assert_eq!(emojis(&add(react("🔥", 6)).await), vec!["🙏", "🔥"]);
    let early =
        ok(messages.remove_reaction(&w.tenant, &by(), Channel::Whatsapp, "wamid.R", &from, at(5)).await);
    assert_eq!(early, Change::Stale, "a removal older than the reaction");
    let unknown =
        ok(messages.add_reaction(&w.tenant, &by(), Channel::Whatsapp, "wamid.NOPE", &react("👍", 1)).await);
    assert_eq!(unknown, Change::Unknown);
}

#[tokio::test]
async fn an_unsent_message_loses_its_content_but_keeps_its_place() {
    let w = world().await;
    let c = w.conversation(1).await;
    let messages = repo(&w);
    ok(messages.insert_once(&w.tenant, &message(&c, Direction::In, "wamid.D", at(1))).await);
    let Change::Applied(gone) =
        ok(messages.mark_deleted(&w.tenant, &by(), Channel::Whatsapp, "wamid.D").await)
    else {
        panic!("not applied")
    };
    assert!(gone.deleted && gone.text.is_none() && gone.media.is_none());
    assert_eq!(
        ok(messages.mark_deleted(&w.tenant, &by(), Channel::Whatsapp, "wamid.D").await),
        Change::Stale
    );
    assert_eq!(
        ok(messages.mark_deleted(&w.tenant, &by(), Channel::Whatsapp, "wamid.X").await),
        Change::Unknown
    );
    assert_eq!(thread(&w, &c.id, MessageOrder::OldestFirst).await, vec!["wamid.D"]);
}

#[tokio::test]
async fn messages_are_the_contacts_data_and_stay_in_their_tenant() {
    let w = world().await;
    let c = w.conversation(1).await;
    let messages = repo(&w);
    ok(messages.insert_once(&w.tenant, &message(&c, Direction::In, "wamid.P", at(1))).await);
    let keys = ok(keys_of_subject(w.core.table.as_ref(), &w.tenant, c.contact_id.as_str()).await);
    assert_eq!(keys.len(), 4, "conversation, its pointer, the message and its claim: {keys:?}");
    let other = tenant("other-biz");
    assert!(ok(messages.find_by_channel_id(&other, Channel::Whatsapp, "wamid.P").await).is_none());
    let (items, _) = ok(messages.list(&other, &c.id, MessageOrder::OldestFirst, 50, None).await);
    assert!(items.is_empty());
    let status = ok(messages
        .advance_status(&other, &by(), Channel::Whatsapp, "wamid.P", MessageStatus::Read, None, at(2))
        .await);
    assert_eq!(status, StatusChange::Unknown);
}

#[tokio::test]
async fn insert_once_needs_a_channel_id_and_an_existing_conversation() {
    let w = world().await;
    let c = w.conversation(1).await;
    let mut note = message(&c, Direction::Out, "x", at(1));
    note.channel_message_id = None;
    assert!(matches!(repo(&w).insert_once(&w.tenant, &note).await, Err(MessageError::NoChannelId)));
    let mut orphan = message(&c, Direction::In, "wamid.O", at(1));
    orphan.conversation_id = ConversationId::new();
    assert!(matches!(repo(&w).insert_once(&w.tenant, &orphan).await, Err(MessageError::ConversationMissing)));
    assert!(ok(repo(&w).find_by_channel_id(&w.tenant, Channel::Whatsapp, "wamid.O").await).is_none());
}
