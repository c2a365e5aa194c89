//! TikTok Business Messaging deliveries: one event per POST, `{client_key, event, create_time,
//! user_openid, content}`, where `user_openid` is the business account (the channel account)
//! and `content` is a JSON document inside a string: `{type, message_id, conversation_id,
//! timestamp, from_user {id, role}, to_user, text, image ...}`.
//!
//! TikTok's own page for the message shape could not be read; this follows what independent
//! integrations agree on and stays tolerant: only `event` and `user_openid` are required, the
//! content is read for ids when it parses (a string or, leniently, an object), and the whole
//! delivery is the update's payload.

use gestor_shared::inbound::{Channel, UpdateKind};
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::wire::{NotEnvelope, Text, Update};

#[derive(serde::Deserialize)]
struct Delivery<'a> {
    #[serde(borrow, default)]
    event: Text<'a>,
    #[serde(borrow, default)]
    user_openid: Text<'a>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(serde::Deserialize, Default)]
struct Content<'a> {
    #[serde(borrow, default)]
    message_id: Text<'a>,
    #[serde(borrow, default)]
    conversation_id: Text<'a>,
    #[serde(borrow, default)]
    from_user: Option<User<'a>>,
    #[serde(borrow, default)]
    to_user: Option<User<'a>>,
}

#[derive(serde::Deserialize, Default)]
struct User<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
}

/// The ids in `content`, owned (the document inside the string is unescaped first).
#[derive(Default)]
struct ContentIds {
    message_id: Option<String>,
    conversation_id: Option<String>,
    from_user: Option<String>,
    to_user: Option<String>,
}

pub(crate) fn parse(body: &[u8]) -> Result<Vec<Update<'_>>, NotEnvelope> {
    let not_tiktok = "not a TikTok webhook delivery (event, user_openid, content)";
    let delivery: Delivery<'_> = serde_json::from_slice(body).map_err(|_| not_tiktok)?;
    let payload: &RawValue = serde_json::from_slice(body).map_err(|_| not_tiktok)?;
    let (Some(event), Some(account)) = (delivery.event.into_cow(), delivery.user_openid.into_cow()) else {
        return Err(not_tiktok);
    };
    let content = delivery.content.map(content_ids).unwrap_or_default();
    let kind = match &*event {
        "im_receive_msg" | "im_send_msg" => UpdateKind::Message,
        "im_mark_read_msg" => UpdateKind::Status,
        _ => UpdateKind::Event,
    };
    // The customer: the recipient of a message the business sent, else the sender.
    let (first, second) = if event == "im_send_msg" {
        (content.to_user, content.from_user)
    } else {
        (content.from_user, content.to_user)
    };
    let sender = first.or(second).or(content.conversation_id);
    Ok(vec![Update {
        channel: Channel::Tiktok,
        kind,
        account_id: account,
        sender_id: sender.map(Cow::Owned),
        entry_id: None,
        update_id: content.message_id.map(Cow::Owned),
        dedup_extra: Some(event.clone()),
        field: event,
        profile: None,
        payload: Some(payload),
    }])
}

fn content_ids(raw: &RawValue) -> ContentIds {
    let read = |content: Content<'_>| ContentIds {
        message_id: content.message_id.into_cow().map(Cow::into_owned),
        conversation_id: content.conversation_id.into_cow().map(Cow::into_owned),
        from_user: content.from_user.and_then(|u| u.id.into_cow()).map(Cow::into_owned),
        to_user: content.to_user.and_then(|u| u.id.into_cow()).map(Cow::into_owned),
    };
    // As documented, a string holding JSON; leniently, the object itself.
    if let Ok(text) = serde_json::from_str::<Cow<'_, str>>(raw.get()) {
        return serde_json::from_str::<Content<'_>>(&text).map(read).unwrap_or_default();
    }
    serde_json::from_str::<Content<'_>>(raw.get()).map(read).unwrap_or_default()
}
