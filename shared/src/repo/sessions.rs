//! Sessions: each sign-in of a member (each token the identity provider issued for one), with
//! the IP, the browser and device its user agent names, the time zone the frontend reports
//! (`X-Timezone`) and the country when a CDN in front of the API names it; first and last seen.
//!
//! The dispatcher records them. To keep every route's request budget, the member item (read on
//! every request anyway) remembers when each of its recent sessions was last written, and a
//! session is written only when it is new or that was 15 minutes ago or more: one transaction
//! (the session and the member's memory of it), and for a new session its `auth.sign_in` audit
//! entry, which unauthorized-access detection reads.
//!
//! Keys: `pk = {tenant}#SESSION#{member id}`, `sk = {session id}`; personal data of the member.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::members as member_keys;
use super::keys::sessions as keys;
use super::members::Member;
use super::{from_item, personal, to_item};
use crate::domain::TenantId;
use crate::domain::user_agent::Device;
use crate::ids::MemberId;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Item, Query, Table, TableError, TxOp, Update};

/// How stale "last seen" may get before a request writes it again.
pub const LAST_SEEN_EVERY: time::Duration = time::Duration::minutes(15);
/// How many sessions the member item remembers; an older one seen again is written again.
const REMEMBERED: usize = 8;
/// A member's sessions a list shows at most.
const MOST_LISTED: usize = 1000;
/// The member item's attribute: session id to the unix time it was last written.
pub const SEEN: &str = "sessions_seen";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    /// `se_` and a digest of the sign-in, never the token itself.
    pub id: String,
    #[schema(value_type = String)]
    pub member_id: MemberId,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device: Device,
    /// IANA time zone the frontend reported.
    pub timezone: Option<String>,
    /// ISO 3166 country code, when a CDN in front of the API gives one.
    pub country: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: OffsetDateTime,
}

/// What one request shows of its session.
#[derive(Debug, Clone, Default)]
pub struct Sighting {
    /// The sign-in the token belongs to (see `Claims::session`).
    pub marker: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub timezone: Option<String>,
    pub country: Option<String>,
}

impl Sighting {
    /// The session id of this sighting by the user `sub` in `tenant` (the tenant is part of
    /// it, so two businesses of one person cannot match their sessions).
    pub fn session_id(&self, tenant: &TenantId, sub: &str) -> String {
        let digest = super::idempotency::fingerprint(format!("{tenant}\n{sub}\n{}", self.marker).as_bytes());
        format!("se_{}", &digest[..26])
    }
}

/// The member item's memory of its recent sessions with `id` written at `now` (the oldest
/// forgotten beyond [`REMEMBERED`]), conditional on the member still existing: a removed
/// member is never brought back.
fn remember(member: &Member, tenant: &TenantId, id: &str, now: OffsetDateTime) -> TxOp {
    let mut seen = member.sessions_seen.clone();
    seen.insert(id.to_owned(), now.unix_timestamp());
    while seen.len() > REMEMBERED {
        let oldest = seen.iter().min_by_key(|(_, at)| **at).map(|(id, _)| id.clone());
        match oldest {
            Some(oldest) => seen.remove(&oldest),
            None => break,
        };
    }
    let seen: serde_json::Map<String, serde_json::Value> =
        seen.into_iter().map(|(id, at)| (id, serde_json::Value::from(at))).collect();
    TxOp::Update {
        key: member_keys::member(tenant, &member.sub),
        update: Update::default().set(SEEN, serde_json::Value::Object(seen)),
        condition: Some(Condition::Exists),
    }
}

/// Whether `member`'s session `id` must be written at `now`: unknown, or last written
/// [`LAST_SEEN_EVERY`] ago or more.
pub fn due(member: &Member, id: &str, now: OffsetDateTime) -> bool {
    member.sessions_seen.get(id).is_none_or(|at| now.unix_timestamp() - at >= LAST_SEEN_EVERY.whole_seconds())
}

#[derive(Clone)]
pub struct SessionRepo {
    table: Arc<dyn Table>,
}

impl SessionRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Writes the session `sighting` shows (when [`due`]); for a session seen for the first
    /// time, with `also` (its audit entry) in the same transaction. Whether it is new is the
    /// session item's to say, not the member's memory of it: the item is created only if
    /// absent, so two first requests at once, or a session the member item forgot, record
    /// one sign-in and keep its first sighting. Answers the session when it was new.
    pub async fn record(
        &self,
        tenant: &TenantId,
        member: &Member,
        sighting: &Sighting,
        now: OffsetDateTime,
        also: impl FnOnce(&Session) -> Result<Vec<TxOp>, TableError>,
    ) -> Result<Option<Session>, TableError> {
        let id = sighting.session_id(tenant, &member.sub);
        if !due(member, &id, now) {
            return Ok(None);
        }
        let key = keys::session(tenant, member.id.as_str(), &id);
        let session = Session {
            id: id.clone(),
            member_id: member.id.clone(),
            ip: sighting.ip.clone(),
            user_agent: sighting.user_agent.clone(),
            device: Device::parse(sighting.user_agent.as_deref().unwrap_or_default()),
            timezone: sighting.timezone.clone(),
            country: sighting.country.clone(),
            first_seen: now,
            last_seen: now,
        };
        let remembered = remember(member, tenant, &id, now);
        if !member.sessions_seen.contains_key(&id) {
            let mut item = to_item(&session)?;
            item.insert(PK.into(), key.pk.clone().into());
            item.insert(SK.into(), key.sk.clone().into());
            personal::mark(&mut item, tenant, member.id.as_str(), "SESSION");
            let mut ops = vec![TxOp::Put { item, condition: Some(Condition::NotExists) }, remembered.clone()];
            ops.extend(also(&session)?);
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Some(session)),
                // Recorded before (or just now by another request): seen again, below.
                Err(TableError::TransactionCanceled { failed }) if failed.first() == Some(&true) => {}
                // The member was removed meanwhile.
                Err(TableError::TransactionCanceled { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let mut seen_again = Update::default().set("last_seen", super::conversations::rfc3339(now)?);
        for (name, value) in [
            ("ip", &session.ip),
            ("user_agent", &session.user_agent),
            ("timezone", &session.timezone),
            ("country", &session.country),
        ] {
            seen_again = seen_again
                .set(name, value.clone().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null));
        }
        seen_again = seen_again.set(
            "device",
            serde_json::to_value(&session.device).map_err(|e| TableError::Invalid(e.to_string()))?,
        );
        let ops =
            vec![TxOp::Update { key, update: seen_again, condition: Some(Condition::Exists) }, remembered];
        match self.table.transact(ops).await {
            Ok(()) | Err(TableError::TransactionCanceled { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A member's sessions, most recently seen first (up to a thousand).
    pub async fn list(&self, tenant: &TenantId, member_id: &MemberId) -> Result<Vec<Session>, TableError> {
        let mut sessions = Vec::new();
        let mut after: Option<Item> = None;
        loop {
            let page = self
                .table
                .query(
                    Query::table(keys::partition(tenant, member_id.as_str()))
                        .limit(100)
                        .start_after(after.take()),
                )
                .await?;
            for item in page.items {
                sessions.push(from_item::<Session>(item)?);
            }
            after = page.last_key;
            if after.is_none() || sessions.len() >= MOST_LISTED {
                break;
            }
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
        Ok(sessions)
    }
}
