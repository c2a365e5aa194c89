//! The `privacy` function: `/v1/privacy/requests` (file, list, read privacy requests), and
//! the `privacy-worker`, which carries them out from the privacy queue.
//!
//! What is carried out today: access and portability for a contact or a member (an archive,
//! `export/`, fetched through `download.rs`); for a contact, opposition (its
//! `restrictions`), rectification (its corrected fields) and the whole or partial cancellation
//! (hidden when filed, erased by `erasing.rs` and `parts.rs`); a member's cancellation
//! (`leaving.rs`) and rectification (their name); for the account, the deactivation of its
//! channel integrations and its cancellation (`closing.rs`). The other kinds are refused when
//! filed (422) until the worker carries them out, so that no request is accepted that nothing
//! would honour.

pub mod closing;
mod download;
pub mod drain;
pub mod erasing;
pub mod export;
mod filing;
mod leaving;
mod parts;
pub mod restore;
pub mod sweep;
pub mod worker;

use gestor_shared::http::{Core, Policy};
use gestor_shared::ports::{Files, Queue};
use gestor_shared::registry::{Declaration, HttpPart, QueuePart, SchedulePart, Serves};
use gestor_shared::settings::{Setting, SettingError, Settings};
use std::sync::Arc;

pub use filing::ApiDoc;

pub static FUNCTION: Declaration = Declaration {
    name: "privacy",
    settings: &[Setting::TableName, Setting::CursorSecret, Setting::PrivacyQueueUrl, Setting::BucketName],
    serves: Serves::Http(HttpPart {
        routes: Privacy::route_table,
        openapi,
        build: |deps| Ok(Arc::new(Privacy::new(deps.core()?, deps.queue(), deps.files()?, deps.settings())?)),
    }),
};

/// The worker carrying requests out (`worker.rs`).
pub static WORKER: Declaration = Declaration {
    name: "privacy-worker",
    settings: &[
        Setting::TableName,
        Setting::BucketName,
        Setting::ChannelTokenKeys,
        Setting::MetaGraphUrl,
        Setting::TiktokApiUrl,
        Setting::ErasureKey,
    ],
    serves: Serves::Queue(QueuePart {
        queue: &gestor_shared::resources::PRIVACY,
        build: |deps| Ok(Arc::new(worker::PrivacyWorker::new(&deps.backend()?, deps.settings())?)),
    }),
};

/// The hourly sweep of open requests (`sweep.rs`).
pub static SWEEP: Declaration = Declaration {
    name: "privacy-sweep",
    settings: &[
        Setting::TableName,
        Setting::BucketName,
        Setting::PrivacyQueueUrl,
        Setting::ErasureKey,
        Setting::ChannelTokenKeys,
        Setting::MetaGraphUrl,
        Setting::TiktokApiUrl,
    ],
    serves: Serves::Schedule(SchedulePart {
        every: std::time::Duration::from_secs(3600),
        build: |deps| {
            let metrics = gestor_shared::metrics::Metrics::stdout();
            Ok(Arc::new(sweep::Sweep::new(&deps.backend()?, deps.settings(), metrics)?))
        },
    }),
};

/// The hourly drain of the dead-letter queues into the bucket (`drain.rs`).
pub static DEAD_LETTERS: Declaration = Declaration {
    name: "dead-letters",
    settings: &[
        Setting::TableName,
        Setting::BucketName,
        Setting::InboundQueueUrl,
        Setting::OutboundQueueUrl,
        Setting::AutomationQueueUrl,
        Setting::PrivacyQueueUrl,
        Setting::DeferredQueueUrl,
    ],
    serves: Serves::Schedule(SchedulePart {
        every: std::time::Duration::from_secs(3600),
        build: |deps| {
            let metrics = gestor_shared::metrics::Metrics::stdout();
            Ok(Arc::new(drain::Drain::new(&deps.backend()?, deps.settings(), metrics)?))
        },
    }),
};

// Every member may file for themselves; what else a caller may file (and read) is checked
// against the subject (`filing.rs`).
gestor_shared::routes!(Privacy, core: core, {
    filing::list => Policy::member(),
    filing::file => Policy::member().audited("privacy_request.create", "privacy_request").idempotent(),
    filing::get => Policy::member(),
    download::download => Policy::member().audited("privacy_request.download", "privacy_request"),
});

pub struct Privacy {
    core: Core,
    queue: Arc<dyn Queue>,
    files: Arc<dyn Files>,
    privacy_queue: String,
}

impl Privacy {
    pub fn new(
        core: Core,
        queue: Arc<dyn Queue>,
        files: Arc<dyn Files>,
        settings: &Settings,
    ) -> Result<Self, SettingError> {
        let privacy_queue = settings.get(Setting::PrivacyQueueUrl)?.to_owned();
        Ok(Self { core, queue, files, privacy_queue })
    }
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Privacy::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
