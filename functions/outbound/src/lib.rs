//! The `outbound` worker: sends the replies agents write, from the outbound queue (FIFO by
//! conversation, so a conversation's replies leave in order), through the channel the
//! customer used, and records what became of each: `sent` with the channel's id, another try
//! later, or `failed` with a reason the agent can act on.

mod media;
mod meta;
mod outcome;
pub mod sweep;
pub(crate) mod tiktok;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use gestor_shared::crypto::TokenCipher;
use gestor_shared::deferred::{DeferredJob, ParkedJob};
use gestor_shared::domain::{Channel, TenantId};
use gestor_shared::graph::{Api, GraphClient, GraphError};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::metrics::Metrics;
use gestor_shared::outbound::{OutboundJob, ReceiptJob, SendJob};
use gestor_shared::ports::{Files, Key, Queue, Table};
use gestor_shared::registry::{Declaration, QueuePart, SchedulePart, Serves, StartError};
use gestor_shared::repo::alerts::{Alert, AlertKind};
use gestor_shared::repo::channels::{ChannelRepo, ChannelStatus};
use gestor_shared::repo::contacts::ContactRepo;
use gestor_shared::repo::messages::{Message, MessageFailure};
use gestor_shared::repo::outbox::OutboxRepo;
use gestor_shared::repo::parked::ParkedRepo;
use gestor_shared::repo::sending::{SendingRepo, Take};
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::worker::{Consumer, receive_count, retry};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tracing::Instrument;

pub use outcome::Outcome;

pub static FUNCTION: Declaration = Declaration {
    name: "outbound",
    settings: &[
        Setting::TableName,
        Setting::BucketName,
        Setting::DeferredQueueUrl,
        Setting::OutboundQueueUrl,
        Setting::ChannelTokenKeys,
        Setting::MetaGraphUrl,
        Setting::TiktokApiUrl,
    ],
    serves: Serves::Queue(QueuePart {
        queue: &gestor_shared::resources::OUTBOUND,
        build: |deps| {
            let worker = Outbound::new(deps.table()?, deps.files()?, deps.queue(), deps.settings())?;
            Ok(Arc::new(worker))
        },
    }),
};

/// The sweep of replies whose job was lost (`sweep.rs`).
pub static SWEEP: Declaration = Declaration {
    name: "outbound-sweep",
    settings: &[Setting::TableName, Setting::OutboundQueueUrl],
    serves: Serves::Schedule(SchedulePart {
        every: Duration::from_secs(300),
        build: |deps| Ok(Arc::new(sweep::Sweep::new(deps.table()?, deps.queue(), deps.settings())?)),
    }),
};

/// Passing failures (rate limits, outages, timeouts) before a reply is `failed`.
pub const MOST_ATTEMPTS: u32 = 6;
/// Waits for the channel's pace before a reply is `failed`: with the queue's receive limit
/// far above both (`resources::OUTBOUND`), pacing never dead-letters a healthy reply.
pub const MOST_PACED: u32 = 30;
/// The first retry's delay; each next one doubles, up to [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(2);
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// How soon to look again at a reply another sender holds.
const HELD_WAIT: Duration = Duration::from_secs(30);
/// Receives of a read receipt before it is dropped.
const RECEIPT_TRIES: u32 = 3;

pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

pub struct Outbound {
    sending: SendingRepo,
    channels: ChannelRepo,
    contacts: ContactRepo,
    parked: ParkedRepo,
    outbox: OutboxRepo,
    /// For what a contact opposed, checked again as a template leaves.
    table: Arc<dyn Table>,
    cipher: TokenCipher,
    graph: GraphClient,
    /// Replies' files: each message's own copy, and the link the channel downloads it by.
    files: Arc<dyn Files>,
    queue: Arc<dyn Queue>,
    outbound_queue: String,
    deferred_queue: String,
    clock: Clock,
    metrics: Metrics,
    /// Until when each channel account waits for a limit of its own (130429, app limits).
    paced_accounts: std::sync::Mutex<std::collections::HashMap<ChannelAccountId, OffsetDateTime>>,
}

impl Outbound {
    pub fn new(
        table: Arc<dyn Table>,
        files: Arc<dyn Files>,
        queue: Arc<dyn Queue>,
        settings: &Settings,
    ) -> Result<Self, StartError> {
        Ok(Self {
            sending: SendingRepo::new(table.clone()),
            channels: ChannelRepo::new(table.clone()),
            contacts: ContactRepo::new(table.clone()),
            parked: ParkedRepo::new(table.clone()),
            outbox: OutboxRepo::new(table.clone()),
            table,
            cipher: TokenCipher::from_settings(settings)?,
            graph: GraphClient::new(settings)?,
            files,
            queue,
            outbound_queue: settings.get(Setting::OutboundQueueUrl)?.to_owned(),
            deferred_queue: settings.get(Setting::DeferredQueueUrl)?.to_owned(),
            clock: Arc::new(OffsetDateTime::now_utc),
            metrics: Metrics::stdout(),
            paced_accounts: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The same worker reading time from `clock` (tests move it instead of sleeping).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same worker writing its metrics to `metrics` (tests read them back).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// How long the account still waits for a limit one of its replies met, in this
    /// function instance (another instance learns it from its own first refusal).
    fn account_wait(&self, account: &ChannelAccountId) -> Option<Duration> {
        let until = *self.paced_accounts.lock().ok()?.get(account)?;
        let left = until - self.now();
        (left > time::Duration::ZERO).then(|| Duration::from_secs_f64(left.as_seconds_f64()))
    }

    fn pace_account(&self, account: &ChannelAccountId, after: Duration) {
        if let Ok(mut paced) = self.paced_accounts.lock() {
            let now = self.now();
            // Accounts whose wait is over are forgotten, so the map stays small.
            paced.retain(|_, until| *until > now);
            paced.insert(account.clone(), now + after);
        }
    }

    /// One record: `None` when it is done (delete it), or how long until it is received again.
    async fn process(&self, record: &SqsMessage) -> Option<Duration> {
        let body = record.body.as_deref().unwrap_or_default();
        let job = match serde_json::from_str(body) {
            Ok(OutboundJob::Send(job)) => job,
            Ok(OutboundJob::Receipt(receipt)) => return self.receipt(&receipt, receive_count(record)).await,
            Err(e) => {
                // Written by this code only: a job that does not parse never will.
                tracing::error!(cause = %e, "an outbound job that does not parse is dropped");
                self.metrics.count("OutboundMalformed", &[], &[]);
                return None;
            }
        };
        let key = SendingRepo::key(&job.tenant, &job.conversation_id, job.created_at, &job.message_id);
        let span = tracing::info_span!("send", tenant = %job.tenant, message_id = %job.message_id);
        match self.send(&job, &key).instrument(span).await {
            Ok(after) => after,
            Err(e) => {
                tracing::warn!(cause = %e, receive = receive_count(record), "storage failed; the job comes back");
                Some(HELD_WAIT)
            }
        }
    }

    async fn send(
        &self,
        job: &SendJob,
        key: &Key,
    ) -> Result<Option<Duration>, Box<dyn std::error::Error + Send + Sync>> {
        if let Some(wait) = self.account_wait(&job.channel_account_id) {
            // Another reply met the account's limit: wait it out without meeting it again,
            // and without spending this reply's own waits.
            return Ok(Some(wait));
        }
        let (message, attempts, paced) = match self.sending.take(key, self.now()).await? {
            Take::Done => {
                // Sent, failed or erased meanwhile: nothing waits any more.
                self.outbox.remove(job).await?;
                return Ok(None);
            }
            Take::Busy => return Ok(Some(HELD_WAIT)),
            Take::Send { message, attempts, paced, resumed } => {
                if resumed {
                    // The sender before stopped between the channel's answer and our record
                    // of it: this send may be the customer's second copy.
                    tracing::warn!("resuming an abandoned send");
                    self.metrics.count("OutboundResumed", &[], &[]);
                }
                (message, attempts, paced)
            }
        };
        let (message, outcome) = match self.prepare_media(job, *message).await {
            media::Prepared::Ready(message, link) => {
                let outcome = self.attempt(job, &message, link.as_deref()).await?;
                (message, outcome)
            }
            media::Prepared::Stop(message, outcome) => (message, outcome),
        };
        let channel = message.channel.as_str();
        match outcome {
            Outcome::Accepted(channel_id) => {
                let claimed = self.sending.sent(&job.tenant, &message, &channel_id, self.now()).await?;
                self.metrics.count("OutboundSent", &[("Channel", channel)], &[]);
                if claimed {
                    self.release_parked(&job.tenant, message.channel, &channel_id).await;
                }
                Ok(None)
            }
            Outcome::Again { reason, after, pace, account } => {
                if let (true, Some(after)) = (account, after) {
                    self.pace_account(&job.channel_account_id, after);
                }
                let (count, most) =
                    if pace { (paced + 1, MOST_PACED) } else { (attempts + 1, MOST_ATTEMPTS) };
                if count >= most {
                    let title = format!("the channel kept failing after {count} tries: {reason}");
                    self.fail(job, key, "retries_exhausted", &title, channel).await?;
                    return Ok(None);
                }
                tracing::info!(reason = %reason, count, pace, "send again later");
                self.sending.again(&message, key, pace, &reason).await?;
                Ok(Some(after.unwrap_or_else(|| backoff(count, message.id.as_str()))))
            }
            Outcome::Refused { code, title } => {
                self.fail(job, key, &code, &title, channel).await?;
                Ok(None)
            }
            Outcome::TokenRefused { code } => {
                // The account and its alert first, in one write: a failure here comes back
                // with the reply still held, and the alert is raised once however often.
                let alert = Alert {
                    id: gestor_shared::ids::AlertId::new().to_string(),
                    kind: AlertKind::ChannelNeedsReconnect,
                    resource_id: job.channel_account_id.to_string(),
                    code: Some(code.clone()),
                    at: self.now(),
                };
                let raise = gestor_shared::repo::alerts::raise_op(&job.tenant, &alert)?;
                if self.channels.needs_reconnect(&job.tenant, &job.channel_account_id, raise).await? {
                    tracing::warn!(channel_account_id = %job.channel_account_id, "channel needs reconnecting");
                }
                let title =
                    "the channel refused the account's token: an admin must connect the channel again";
                self.fail(job, key, &code, title, channel).await?;
                Ok(None)
            }
        }
    }

    /// Sends a read receipt: a few tries when the channel fails, then it is dropped (the
    /// customer's tick is not worth holding the conversation's replies back).
    async fn receipt(&self, job: &ReceiptJob, receive: u32) -> Option<Duration> {
        let span =
            tracing::info_span!("receipt", tenant = %job.tenant, conversation_id = %job.conversation_id);
        let outcome = self.send_receipt(job).instrument(span).await;
        match outcome {
            Ok(true) => None,
            Ok(false) if receive < RECEIPT_TRIES => Some(backoff(receive, job.conversation_id.as_str())),
            Ok(false) => {
                self.metrics.count("OutboundReceiptDropped", &[("Channel", job.channel.as_str())], &[]);
                None
            }
            Err(e) if receive < RECEIPT_TRIES => {
                tracing::warn!(cause = %e, "receipt: storage failed");
                Some(HELD_WAIT)
            }
            Err(_) => None,
        }
    }

    /// `true` when the receipt is done with (sent, or refused for good).
    async fn send_receipt(&self, job: &ReceiptJob) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        let Some((account, Some(token))) =
            self.channels.for_sending(&job.tenant, &job.channel_account_id, &self.cipher).await?
        else {
            return Ok(true);
        };
        // WhatsApp marks the message itself read: no recipient needed.
        let recipient = match job.channel {
            Channel::Whatsapp => String::new(),
            channel => {
                match self.recipient(&job.tenant, job.recipient.as_deref(), &job.contact_id, channel).await? {
                    Some(recipient) => recipient,
                    None => return Ok(true),
                }
            }
        };
        let Some((path, body)) =
            meta::receipt(job.channel, &account.external_id, &recipient, &job.channel_message_id)
        else {
            return Ok(true);
        };
        match self.graph.post_json(Api::Meta, &path, &token, &body).await {
            Ok(answer) if (200..300).contains(&answer.status) => Ok(true),
            Ok(answer) if answer.status == 429 || answer.status >= 500 => Ok(false),
            Ok(answer) => {
                let code = answer
                    .body
                    .as_ref()
                    .and_then(|b| b.pointer("/error/code"))
                    .and_then(serde_json::Value::as_i64);
                tracing::warn!(status = answer.status, code, "the channel refused the read receipt");
                Ok(true)
            }
            Err(GraphError::Unavailable(_)) => Ok(false),
            Err(e) => {
                tracing::warn!(cause = %e, "read receipt not sent");
                Ok(true)
            }
        }
    }

    /// The customer's id on the channel: the one the conversation knows, or for a
    /// conversation from before it kept one, the contact's latest identity on the channel.
    async fn recipient(
        &self,
        tenant: &TenantId,
        known: Option<&str>,
        contact_id: &gestor_shared::ids::ContactId,
        channel: Channel,
    ) -> Result<Option<String>, gestor_shared::ports::TableError> {
        if let Some(known) = known {
            return Ok(Some(known.to_owned()));
        }
        let contact = self.contacts.get(tenant, contact_id).await?;
        Ok(contact
            .and_then(|c| c.identities.into_iter().rev().find(|i| i.channel == channel.as_str()))
            .map(|i| i.external_id))
    }

    /// Sends once and says what the channel's answer means.
    async fn attempt(
        &self,
        job: &SendJob,
        message: &Message,
        media_link: Option<&str>,
    ) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
        let Some((account, token)) =
            self.channels.for_sending(&job.tenant, &job.channel_account_id, &self.cipher).await?
        else {
            return Ok(Outcome::refused("channel_gone", "the channel account no longer exists"));
        };
        let Some(token) = token else {
            let title = match account.status {
                ChannelStatus::NeedsReconnect => "the channel needs connecting again before it can send",
                _ => "the channel account was deactivated",
            };
            return Ok(Outcome::refused("channel_inactive", title));
        };
        if message.kind == gestor_shared::domain::MessageKind::Template {
            // An opposition carried out while the reply waited holds it back all the same.
            let template = message.details.as_ref().map(|d| &d["template"]);
            let text = |name: &str| template.and_then(|t| t[name].as_str()).unwrap_or_default();
            let refusal = gestor_shared::repo::opposition::template_refusal(
                &self.table,
                &job.tenant,
                &message.contact_id,
                &job.channel_account_id,
                text("name"),
                text("language"),
            )
            .await?;
            if let Some(why) = refusal {
                return Ok(Outcome::refused("opposed", why));
            }
        }
        let recipient = match message.channel {
            // TikTok's recipient is its conversation id, which no contact record holds.
            Channel::Tiktok => job.recipient.clone(),
            channel => {
                self.recipient(&job.tenant, job.recipient.as_deref(), &message.contact_id, channel).await?
            }
        };
        let Some(recipient) = recipient else {
            return Ok(Outcome::refused("no_recipient", "the contact has no identity on this channel"));
        };
        let context = job.context.as_deref();
        let request = match message.channel {
            Channel::Tiktok => {
                // TikTok takes an image by its own upload, not by a link.
                let media_id = match message.media {
                    Some(_) => match self.tiktok_image(&token, &account.external_id, message).await? {
                        Ok(id) => Some(id),
                        Err(outcome) => return Ok(outcome),
                    },
                    None => None,
                };
                tiktok::request(&account.external_id, &recipient, message, context, media_id.as_deref())
                    .map(|body| (Api::Tiktok, tiktok::SEND_PATH.to_owned(), body))
            }
            channel => {
                let to = meta::To { account: &account.external_id, recipient: &recipient, context };
                meta::request(channel, &to, message, job.delivery, media_link)
                    .map(|(path, body)| (Api::Meta, path, body))
            }
        };
        let (api, path, body) = match request {
            Ok(request) => request,
            Err(outcome) => return Ok(outcome),
        };
        match self.graph.post_json(api, &path, &token, &body).await {
            Ok(answer) if api == Api::Tiktok => Ok(tiktok::outcome(&answer)),
            Ok(answer) => Ok(meta::outcome(message.channel, &answer)),
            // No answer: the channel may or may not have it. Sent again, rather than never.
            Err(GraphError::Unavailable(reason)) => Ok(Outcome::again(&reason)),
            Err(e) => Ok(Outcome::refused("request", &e.to_string())),
        }
    }

    async fn fail(
        &self,
        job: &SendJob,
        key: &Key,
        code: &str,
        title: &str,
        channel: &str,
    ) -> Result<(), gestor_shared::ports::TableError> {
        tracing::warn!(code, "reply failed");
        self.metrics.count("OutboundFailed", &[("Channel", channel)], &[("Code", code)]);
        let failure = MessageFailure { code: code.to_owned(), title: title.to_owned() };
        self.sending.failed(&job.tenant, &job.message_id, key, &failure, self.now()).await?;
        self.outbox.remove(job).await
    }

    /// Statuses the channel sent before its id was recorded wait parked under that id: hand
    /// them to the deferred worker, which applies them now that the message has the id.
    async fn release_parked(&self, tenant: &TenantId, channel: Channel, channel_id: &str) {
        match self.parked.get(tenant, channel, channel_id).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                let job = ParkedJob { tenant_id: tenant.to_string(), channel, target: channel_id.to_owned() };
                let id = job.entry_id();
                let sent = DeferredJob::ExpireParked(job)
                    .send(self.queue.as_ref(), &self.deferred_queue, id, Duration::ZERO)
                    .await;
                if let Err(e) = sent {
                    // The parked updates' own expiry check applies them later all the same.
                    tracing::warn!(cause = %e, "parked statuses not released now");
                }
            }
            Err(e) => tracing::warn!(cause = %e, "parked statuses not read"),
        }
    }
}

/// The wait before the `count`th retry: doubling from [`FIRST_WAIT`], at most
/// [`LONGEST_WAIT`], spread by up to a fifth so that replies failing together do not come
/// back together.
fn backoff(count: u32, seed: &str) -> Duration {
    let base = FIRST_WAIT.saturating_mul(1 << count.saturating_sub(1).min(16)).min(LONGEST_WAIT);
    let spread = seed.bytes().fold(u64::from(count), |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    base + base.mul_f64((spread % 200) as f64 / 1000.0)
}

#[async_trait]
impl Consumer for Outbound {
    fn name(&self) -> &'static str {
        "outbound"
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut again = Vec::new();
        // A conversation whose reply waits holds back its later replies in the batch: they
        // must not overtake it, and they wait as long (SQS hands out nothing of a group while
        // any of it is in flight, so a shorter wait would not bring them sooner, and the
        // queue's own longer timeout would hold the waiting reply's retry back).
        let mut waiting: std::collections::HashMap<String, Duration> = std::collections::HashMap::new();
        for record in &event.records {
            let group = record.attributes.get("MessageGroupId").cloned().unwrap_or_default();
            let after = match waiting.get(&group) {
                Some(wait) => Some(*wait),
                None => self.process(record).await,
            };
            let Some(after) = after else { continue };
            waiting.entry(group).or_insert(after);
            if let Some(receipt) = &record.receipt_handle
                && let Err(e) = self.queue.set_visibility(&self.outbound_queue, receipt, after).await
            {
                tracing::warn!(cause = %e, "the wait was not set; the queue's own timeout applies");
            }
            again.push(record.message_id.clone().unwrap_or_default());
        }
        retry(again)
    }
}

#[cfg(test)]
mod tests;
