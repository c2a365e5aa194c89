use gestor_shared::ids::{ChannelAccountId, ContactId, ConversationId, MemberId};
use gestor_shared::inbound::Channel;
use gestor_shared::repo::conversations::{
    Conversation, ConversationChange, ConversationError, ConversationFilter, ConversationStatus,
};
use gestor_shared::repo::personal::keys_of_subject;
use gestor_shared::repo::scope::RowScope;

use crate::{at, tenant, world};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn status(s: ConversationStatus) -> ConversationChange {
    ConversationChange { status: Some(s), ..Default::default() }
}

async fn inbox(w: &crate::World, filter: &ConversationFilter) -> Vec<ConversationId> {
    let (items, _) = ok(w.conversations.list(&w.tenant, filter, &RowScope::Business, 200, None).await);
    items.into_iter().map(|c| c.id).collect()
}

// Several worker threads, so that the racing writes really interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_first_messages_open_exactly_one_conversation() {
    let w = world().await;
    let (contact, account) = (ContactId::new(), ChannelAccountId::new());
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (repo, tenant, contact, account) =
            (w.conversations.clone(), w.tenant.clone(), contact.clone(), account.clone());
        tasks.push(tokio::spawn(async move {
            repo.open_for(&tenant, &contact, Channel::Whatsapp, &account, at(i)).await
        }));
    }
    let mut opened: Vec<(Conversation, bool)> = Vec::new();
    for task in tasks {
        opened.push(ok(ok(task.await)));
    }
    assert_eq!(opened.iter().filter(|(_, created)| *created).count(), 1);
    assert!(opened.iter().all(|(c, _)| c.id == opened[0].0.id));
    assert_eq!(inbox(&w, &ConversationFilter::default()).await, vec![opened[0].0.id.clone()]);
    // The conversation and its pointer, both findable as the contact's data.
    let keys = ok(keys_of_subject(w.core.table.as_ref(), &w.tenant, contact.as_str()).await);
    assert_eq!(keys.len(), 2, "{keys:?}");
    // Another account of the same contact is another conversation.
    let (other, created) = ok(w
        .conversations
        .open_for(&w.tenant, &contact, Channel::Whatsapp, &ChannelAccountId::new(), at(1))
        .await);
    assert!(created && other.id != opened[0].0.id);
}

#[tokio::test]
async fn a_new_message_reopens_a_resolved_or_snoozed_conversation() {
    let w = world().await;
    let first = w.conversation(1).await;
    let resolved =
        ok(w.conversations.change(&w.tenant, &first.id, &status(ConversationStatus::Resolved), None).await);
    assert_eq!((resolved.status, resolved.version), (ConversationStatus::Resolved, 2));
    let (again, created) = ok(w
        .conversations
        .open_for(&w.tenant, &first.contact_id, Channel::Whatsapp, &first.channel_account_id, at(9))
        .await);
    assert!(!created);
    assert_eq!(
        (again.id.clone(), again.status, again.version),
        (first.id.clone(), ConversationStatus::Open, 3)
    );

    let snooze = ConversationChange {
        status: Some(ConversationStatus::Snoozed),
        snoozed_until: Some(Some(at(60))),
        ..Default::default()
    };
    let snoozed = ok(w.conversations.change(&w.tenant, &first.id, &snooze, None).await);
    assert_eq!(snoozed.snoozed_until, Some(at(60)));
    let woken = ok(w.conversations.record_inbound(&w.tenant, &first.id, at(10)).await);
    assert_eq!((woken.status, woken.snoozed_until, woken.unread_count), (ConversationStatus::Open, None, 1));

    // Pending (held by an automation) stays pending.
    ok(w.conversations.change(&w.tenant, &first.id, &status(ConversationStatus::Pending), None).await);
    let held = ok(w.conversations.record_inbound(&w.tenant, &first.id, at(11)).await);
    assert_eq!(held.status, ConversationStatus::Pending);
    let pending = ConversationFilter { status: Some(ConversationStatus::Pending), ..Default::default() };
    assert_eq!(inbox(&w, &pending).await, vec![first.id.clone()]);
    let open = ConversationFilter { status: Some(ConversationStatus::Open), ..Default::default() };
    assert!(inbox(&w, &open).await.is_empty(), "the index follows the status");
}

#[tokio::test]
async fn activity_only_moves_forward_and_counts_every_inbound_message() {
    let w = world().await;
    let c = w.conversation(1).await;
    let other = w.conversation(3).await;
    let recorded = ok(w.conversations.record_inbound(&w.tenant, &c.id, at(5)).await);
    assert_eq!((recorded.last_message_at, recorded.unread_count), (at(5), 1));
    assert_eq!(inbox(&w, &ConversationFilter::default()).await, vec![c.id.clone(), other.id.clone()]);
    // A late retry of an older message counts but does not move the activity back.
    let late = ok(w.conversations.record_inbound(&w.tenant, &c.id, at(2)).await);
    assert_eq!((late.last_message_at, late.unread_count, late.version), (at(5), 2, 1));
    let replied = ok(w.conversations.record_outbound(&w.tenant, &c.id, at(4)).await);
    assert_eq!((replied.last_message_at, replied.unread_count), (at(5), 2));
    let replied = ok(w.conversations.record_outbound(&w.tenant, &c.id, at(7)).await);
    assert_eq!(replied.last_message_at, at(7));
    let read = ok(w.conversations.mark_read(&w.tenant, &c.id, &RowScope::Business).await);
    assert_eq!((read.unread_count, read.last_message_at), (0, at(7)));
    let missing = w.conversations.record_inbound(&w.tenant, &ConversationId::new(), at(1)).await;
    assert!(matches!(missing, Err(ConversationError::NotFound)));
    let missing = w.conversations.mark_read(&w.tenant, &ConversationId::new(), &RowScope::Business).await;
    assert!(matches!(missing, Err(ConversationError::NotFound)));
}

// Several worker threads, so that the racing writes really interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_messages_are_all_counted_and_the_latest_wins() {
    let w = world().await;
    let c = w.conversation(0).await;
    let mut tasks = Vec::new();
    for i in [3, 9, 1, 7, 5, 2, 8, 4, 6, 0] {
        let (repo, tenant, id) = (w.conversations.clone(), w.tenant.clone(), c.id.clone());
        tasks.push(tokio::spawn(async move { repo.record_inbound(&tenant, &id, at(i)).await }));
    }
    for task in tasks {
        ok(ok(task.await));
    }
    let now = ok(w.conversations.get(&w.tenant, &c.id).await).unwrap_or_else(|| panic!("gone"));
    assert_eq!((now.unread_count, now.last_message_at, now.version), (10, at(9), 1));
    assert_eq!(inbox(&w, &ConversationFilter::default()).await, vec![c.id.clone()], "one index entry");
}

#[tokio::test]
async fn assignments_move_conversations_between_inboxes_and_honour_versions() {
    let w = world().await;
    let c = w.conversation(1).await;
    let ana = MemberId::new();
    let assign = ConversationChange { assignee_id: Some(Some(ana.clone())), ..Default::default() };
    let assigned = ok(w.conversations.change(&w.tenant, &c.id, &assign, Some(1)).await);
    assert_eq!((assigned.assignee_id.clone(), assigned.version), (Some(ana.clone()), 2));
    let stale =
        w.conversations.change(&w.tenant, &c.id, &status(ConversationStatus::Resolved), Some(1)).await;
    assert!(matches!(stale, Err(ConversationError::VersionConflict)));
    let unchanged = ok(w.conversations.change(&w.tenant, &c.id, &assign, None).await);
    assert_eq!(unchanged.version, 2, "a change to the same values writes nothing");

    let anas = ConversationFilter { assignee: Some(ana.clone()), ..Default::default() };
    let nobodys = ConversationFilter { unassigned: true, ..Default::default() };
    assert_eq!(inbox(&w, &anas).await, vec![c.id.clone()]);
    assert!(inbox(&w, &nobodys).await.is_empty());
    let unassign = ConversationChange { assignee_id: Some(None), ..Default::default() };
    ok(w.conversations.change(&w.tenant, &c.id, &unassign, None).await);
    assert!(inbox(&w, &anas).await.is_empty());
    assert_eq!(inbox(&w, &nobodys).await, vec![c.id.clone()]);
    // Nothing of one tenant is seen from another.
    assert!(ok(w.conversations.get(&tenant("other-biz"), &c.id).await).is_none());
    let (others, _) = ok(w
        .conversations
        .list(&tenant("other-biz"), &ConversationFilter::default(), &RowScope::Business, 50, None)
        .await);
    assert!(others.is_empty());
}

#[tokio::test]
async fn inbox_pages_merge_the_status_partitions_in_activity_order() {
    let w = world().await;
    let mut expected = Vec::new();
    for (i, s) in ConversationStatus::ALL.iter().cycle().take(9).enumerate() {
        let c = w.conversation(i as i64).await;
        ok(w.conversations.change(&w.tenant, &c.id, &status(*s), None).await);
        expected.push(c.id);
    }
    expected.reverse();
    let mut seen = Vec::new();
    let mut start = None;
    for _ in 0..10 {
        let (page, last) = ok(w
            .conversations
            .list(&w.tenant, &ConversationFilter::default(), &RowScope::Business, 2, start)
            .await);
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|c| c.id));
        start = last;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn an_erased_conversation_is_replaced_by_a_new_one() {
    let w = world().await;
    let first = w.conversation(1).await;
    let keys = ok(keys_of_subject(w.core.table.as_ref(), &w.tenant, first.contact_id.as_str()).await);
    let conversation_key = keys.iter().find(|k| k.sk == first.id.as_str()).cloned();
    let Some(conversation_key) = conversation_key else { panic!("{keys:?}") };
    ok(w.core.table.delete(&conversation_key, None).await);
    let (second, created) = ok(w
        .conversations
        .open_for(&w.tenant, &first.contact_id, Channel::Whatsapp, &first.channel_account_id, at(5))
        .await);
    assert!(created && second.id != first.id);
    let (third, created) = ok(w
        .conversations
        .open_for(&w.tenant, &first.contact_id, Channel::Whatsapp, &first.channel_account_id, at(6))
        .await);
    assert!(!created && third.id == second.id);
}
