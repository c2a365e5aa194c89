//! When a business may write to a customer on each channel, and how. The channels refuse
//! what falls outside their windows (and may restrict the sender's number or Page for it), so
//! a reply is checked here before it is queued; a reply that waits past the window meanwhile
//! is refused by the channel and fails with its code (WhatsApp 131047, Messenger 10/2018278).
//!
//! - WhatsApp: free-form messages within 24 hours of the customer's last message; at any
//!   time, only an approved template.
//! - Messenger and Instagram: within 24 hours (`messaging_type: RESPONSE`); up to 7 days with
//!   the `HUMAN_AGENT` tag, which needs the app's approved permission and is for a person's
//!   replies only, never an automation's. Conversations are started by the customer.
//! - TikTok: started by the customer only; replies within 48 hours of the customer's last
//!   message, at most 10 in that window (third-party documentation; TikTok publishes no
//!   figure).

use time::{Duration, OffsetDateTime};

use super::Channel;

const WHATSAPP_WINDOW: Duration = Duration::hours(24);
const META_WINDOW: Duration = Duration::hours(24);
const HUMAN_AGENT_WINDOW: Duration = Duration::days(7);
const TIKTOK_WINDOW: Duration = Duration::hours(48);
pub const TIKTOK_REPLIES_PER_WINDOW: u32 = 10;

/// What the business wants to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Text, media, interactive: anything but a template.
    FreeForm,
    /// An approved WhatsApp message template.
    Template,
}

/// Who sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A member answering from the inbox.
    Person,
    /// An automation or the AI.
    Automation,
}

/// How the channel must be told to deliver it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Inside the channel's standard window (Meta's `messaging_type: RESPONSE`).
    Response,
    /// Messenger or Instagram between 24 hours and 7 days: `MESSAGE_TAG` `HUMAN_AGENT`.
    HumanAgent,
    /// A WhatsApp template, allowed at any time.
    Template,
}

/// Why the channel would refuse it: each says what the agent can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the customer has not written on this channel yet; on {0} the customer starts the conversation")]
    NotStartedByCustomer(&'static str),
    #[error(
        "more than 24 hours since the customer's last message: WhatsApp accepts only an approved template now"
    )]
    WhatsappWindowClosed,
    #[error("templates are WhatsApp's; this conversation is on {0}")]
    TemplateOffWhatsapp(&'static str),
    #[error(
        "more than 24 hours since the customer's last message, and this app is not approved for the HUMAN_AGENT tag"
    )]
    HumanAgentNotApproved,
    #[error(
        "more than 24 hours since the customer's last message: only a person's reply may use the HUMAN_AGENT tag"
    )]
    HumanAgentForPeopleOnly,
    #[error(
        "more than 7 days since the customer's last message: {0} accepts no reply until the customer writes again"
    )]
    MetaWindowClosed(&'static str),
    #[error(
        "more than 48 hours since the customer's last message: TikTok accepts no reply until the customer writes again"
    )]
    TiktokWindowClosed,
    #[error("TikTok accepts at most 10 messages until the customer writes again")]
    TiktokReplyLimit,
}

/// The conversation as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub channel: Channel,
    /// The channel's time of the customer's latest message, if any.
    pub last_inbound_at: Option<OffsetDateTime>,
    /// Messages of the business since then.
    pub replies_since_inbound: u32,
}

impl Window {
    /// Whether `content` from `sender` may go now, and how.
    pub fn allows(
        &self,
        content: Content,
        sender: Sender,
        now: OffsetDateTime,
        human_agent_approved: bool,
    ) -> Result<Delivery, Refusal> {
        let since = self.last_inbound_at.map(|at| now - at);
        match (self.channel, content) {
            (Channel::Whatsapp, Content::Template) => Ok(Delivery::Template),
            (Channel::Whatsapp, Content::FreeForm) => match since {
                Some(since) if since <= WHATSAPP_WINDOW => Ok(Delivery::Response),
                _ => Err(Refusal::WhatsappWindowClosed),
            },
            (channel, Content::Template) => Err(Refusal::TemplateOffWhatsapp(channel.as_str())),
            (channel @ (Channel::Messenger | Channel::Instagram), Content::FreeForm) => {
                let Some(since) = since else { return Err(Refusal::NotStartedByCustomer(channel.as_str())) };
                if since <= META_WINDOW {
                    Ok(Delivery::Response)
                } else if since > HUMAN_AGENT_WINDOW {
                    Err(Refusal::MetaWindowClosed(channel.as_str()))
                } else if sender != Sender::Person {
                    Err(Refusal::HumanAgentForPeopleOnly)
                } else if !human_agent_approved {
                    Err(Refusal::HumanAgentNotApproved)
                } else {
                    Ok(Delivery::HumanAgent)
                }
            }
            (Channel::Tiktok, Content::FreeForm) => {
                let Some(since) = since else { return Err(Refusal::NotStartedByCustomer("tiktok")) };
                if since > TIKTOK_WINDOW {
                    Err(Refusal::TiktokWindowClosed)
                } else if self.replies_since_inbound >= TIKTOK_REPLIES_PER_WINDOW {
                    Err(Refusal::TiktokReplyLimit)
                } else {
                    Ok(Delivery::Response)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 12:00 UTC);

    fn window(channel: Channel, hours_ago: Option<i64>, replies: u32) -> Window {
        Window {
            channel,
            last_inbound_at: hours_ago.map(|h| NOW - Duration::hours(h)),
            replies_since_inbound: replies,
        }
    }

    fn person(w: Window, content: Content, approved: bool) -> Result<Delivery, Refusal> {
        w.allows(content, Sender::Person, NOW, approved)
    }

    #[test]
    fn whatsapp_takes_free_form_for_24_hours_and_templates_always() {
        let free = |hours| person(window(Channel::Whatsapp, hours, 0), Content::FreeForm, false);
        assert_eq!(free(Some(23)), Ok(Delivery::Response));
        assert_eq!(free(Some(24)), Ok(Delivery::Response));
        assert_eq!(free(Some(25)), Err(Refusal::WhatsappWindowClosed));
        assert_eq!(free(None), Err(Refusal::WhatsappWindowClosed));
        for hours in [None, Some(1), Some(500)] {
            let w = window(Channel::Whatsapp, hours, 0);
            assert_eq!(person(w, Content::Template, false), Ok(Delivery::Template));
            assert_eq!(w.allows(Content::Template, Sender::Automation, NOW, false), Ok(Delivery::Template));
        }
    }

    #[test]
    fn messenger_and_instagram_take_24_hours_then_a_persons_human_agent_reply_for_7_days() {
        for channel in [Channel::Messenger, Channel::Instagram] {
            let w = |hours| window(channel, Some(hours), 0);
            assert_eq!(person(w(2), Content::FreeForm, false), Ok(Delivery::Response));
            assert_eq!(person(w(30), Content::FreeForm, true), Ok(Delivery::HumanAgent));
            assert_eq!(person(w(30), Content::FreeForm, false), Err(Refusal::HumanAgentNotApproved));
            let automated = w(30).allows(Content::FreeForm, Sender::Automation, NOW, true);
            assert_eq!(automated, Err(Refusal::HumanAgentForPeopleOnly));
            assert_eq!(
                person(w(24 * 7 + 1), Content::FreeForm, true),
                Err(Refusal::MetaWindowClosed(channel.as_str()))
            );
            let never = window(channel, None, 0);
            assert_eq!(
                person(never, Content::FreeForm, true),
                Err(Refusal::NotStartedByCustomer(channel.as_str()))
            );
            assert_eq!(
                person(w(1), Content::Template, true),
                Err(Refusal::TemplateOffWhatsapp(channel.as_str()))
            );
        }
    }

    #[test]
    fn tiktok_takes_ten_replies_within_48_hours_of_the_customer() {
        let w = |hours, replies| person(window(Channel::Tiktok, hours, replies), Content::FreeForm, true);
        assert_eq!(w(Some(47), 9), Ok(Delivery::Response));
        assert_eq!(w(Some(47), 10), Err(Refusal::TiktokReplyLimit));
        assert_eq!(w(Some(49), 0), Err(Refusal::TiktokWindowClosed));
        assert_eq!(w(None, 0), Err(Refusal::NotStartedByCustomer("tiktok")));
    }
}
