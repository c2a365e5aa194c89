//! The conversation and message repositories (gestor_shared::repo) on the embedded table:
//! what the inbound worker relies on when channels deliver late, twice, or concurrently.
//! They live beside the read API that is their first user.
//!
//! On DynamoDB instead, each test on a fresh table of the emulator: with the environment of
//! `infra/moto.sh` (`source .gestor/moto.env`),
//! `GESTOR_STORAGE_TEST_BACKEND=aws cargo test -p gestor-conversations --test storage`.
//! The two tests of concurrent writes to one conversation fail there, and only there: moto
//! checks conditions without a lock and undoes a failed transaction by restoring a copy of the
//! whole table taken before it, losing whatever other requests wrote meanwhile. Everything
//! run one request at a time passes, which is what shows the expressions mean on DynamoDB
//! what they mean on the embedded table.

mod conversations;
mod messages;

use gestor_shared::adapters::aws;
use gestor_shared::adapters::dynamo::{DynamoTable, create_table};
use gestor_shared::domain::TenantId;
use gestor_shared::http::Core;
use gestor_shared::ids::{ChannelAccountId, ContactId, MemberId};
use gestor_shared::inbound::Channel;
use gestor_shared::repo::conversations::{Conversation, ConversationRepo};
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

pub struct World {
    pub core: Core,
    pub conversations: ConversationRepo,
    pub tenant: TenantId,
    _dir: Box<dyn std::any::Any>,
}

pub async fn world() -> World {
    let (mut core, dir) = gestor_shared::testing::embedded_core();
    if std::env::var("GESTOR_STORAGE_TEST_BACKEND").as_deref() == Ok("aws") {
        let client = aws::dynamodb_client(&aws::sdk_config().await);
        let name = format!("storage-{}", MemberId::new().as_str().to_ascii_lowercase());
        if let Err(e) = create_table(&client, &name).await {
            panic!("{e}");
        }
        core.table = Arc::new(DynamoTable::new(client, name));
    }
    let conversations = ConversationRepo::new(core.table.clone());
    World { core, conversations, tenant: tenant("acme"), _dir: Box::new(dir) }
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Minute `m` of a fixed morning.
pub fn at(m: i64) -> OffsetDateTime {
    datetime!(2026-11-28 10:00 UTC) + time::Duration::minutes(m)
}

impl World {
    /// A new contact's conversation on a new WhatsApp account, first message at minute `m`.
    pub async fn conversation(&self, m: i64) -> Conversation {
        let opened = self
            .conversations
            .open_for(&self.tenant, &ContactId::new(), Channel::Whatsapp, &ChannelAccountId::new(), at(m))
            .await;
        match opened {
            Ok((c, true)) => c,
            other => panic!("{other:?}"),
        }
    }
}
