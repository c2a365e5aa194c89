//! The channel route (which business a channel account belongs to), read once per account and
//! kept for [`ROUTE_TTL`]: every update of a busy account would otherwise read it again. A
//! deactivation is seen within that time, well inside a minute. An account no business has
//! connected is never cached: a business connecting it is served at once.

use gestor_shared::domain::TenantId;
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::inbound::Channel;
use gestor_shared::ports::{Table, TableError};
use gestor_shared::repo::channels::ChannelRepo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

pub const ROUTE_TTL: time::Duration = time::Duration::seconds(30);
/// Accounts kept at most; past it the cache starts over (a worker serves few accounts).
const CAPACITY: usize = 10_000;

type Route = (TenantId, ChannelAccountId);

pub struct RouteCache {
    channels: ChannelRepo,
    cached: Mutex<HashMap<(Channel, String), (Route, OffsetDateTime)>>,
}

impl RouteCache {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { channels: ChannelRepo::new(table), cached: Mutex::new(HashMap::new()) }
    }

    pub async fn route(
        &self,
        channel: Channel,
        account: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Route>, TableError> {
        self.cached((channel, account.to_owned()), now, self.channels.route(channel, account)).await
    }

    /// The tenant of a WhatsApp Business Account's own webhooks (template updates), and the
    /// number of theirs that holds its route.
    pub async fn business(&self, waba_id: &str, now: OffsetDateTime) -> Result<Option<Route>, TableError> {
        let key = (Channel::Whatsapp, format!("business#{waba_id}"));
        self.cached(key, now, self.channels.business_route(waba_id)).await
    }

    async fn cached(
        &self,
        key: (Channel, String),
        now: OffsetDateTime,
        read: impl std::future::Future<Output = Result<Option<Route>, TableError>>,
    ) -> Result<Option<Route>, TableError> {
        if let Ok(cached) = self.cached.lock()
            && let Some((route, read_at)) = cached.get(&key)
            && now - *read_at < ROUTE_TTL
            && now >= *read_at
        {
            return Ok(Some(route.clone()));
        }
        let route = read.await?;
        if let Ok(mut cached) = self.cached.lock() {
            match &route {
                Some(route) => {
                    if cached.len() >= CAPACITY {
                        cached.clear();
                    }
                    cached.insert(key, (route.clone(), now));
                }
                None => {
                    cached.remove(&key);
                }
            }
        }
        Ok(route)
    }
}
