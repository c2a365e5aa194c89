//! How a function declares itself, once: its name, the settings it reads, and what it serves
//! (HTTP routes with their OpenAPI part, a queue, or a schedule) with how to build it. The
//! Lambda binary (`lambda::run`), the local server, the merged OpenAPI document and the
//! template test all read the same declaration, so none of them keeps its own list.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::http::{Core, Function, Route};
use crate::ports::secrets::SecretSource;
use crate::ports::{Files, Mailer, Queue, Table};
use crate::resources::QueueSpec;
use crate::settings::{Setting, SettingError, Settings};
use crate::worker::{Consumer, Scheduled};

/// Why a function could not be built at cold start.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

pub struct Declaration {
    /// The function's name: its binary (`Metadata.BuildProperties.Binary` in
    /// `template.yaml`, which is how the tests find its resource) and its name in logs.
    pub name: &'static str,
    /// Every setting the function reads; nothing else is looked up.
    pub settings: &'static [Setting],
    pub serves: Serves,
}

pub enum Serves {
    Http(HttpPart),
    Queue(QueuePart),
    Schedule(SchedulePart),
}

pub struct HttpPart {
    pub routes: fn() -> &'static [Route],
    /// The function's part of the OpenAPI document.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    pub build: fn(&Deps) -> Result<Arc<dyn Function>, StartError>,
}

pub struct QueuePart {
    pub queue: &'static QueueSpec,
    pub build: fn(&Deps) -> Result<Arc<dyn Consumer>, StartError>,
}

pub struct SchedulePart {
    /// How often EventBridge invokes it (`rate(...)` in the template): EventBridge counts in
    /// whole minutes, so a shorter or uneven period runs at the next whole minute.
    pub every: Duration,
    pub build: fn(&Deps) -> Result<Arc<dyn Scheduled>, StartError>,
}

impl Declaration {
    pub fn routes(&self) -> &'static [Route] {
        match &self.serves {
            Serves::Http(http) => (http.routes)(),
            _ => &[],
        }
    }

    pub fn reads(&self, setting: Setting) -> bool {
        self.settings.contains(&setting)
    }
}

impl SchedulePart {
    /// The schedule as EventBridge writes it: `rate(15 minutes)`.
    pub fn expression(&self) -> String {
        let secs = self.every.as_secs().div_ceil(60).max(1) * 60;
        let (n, unit) = if secs.is_multiple_of(86_400) {
            (secs / 86_400, "day")
        } else if secs.is_multiple_of(3_600) {
            (secs / 3_600, "hour")
        } else {
            (secs / 60, "minute")
        };
        format!("rate({n} {unit}{})", if n == 1 { "" } else { "s" })
    }
}

/// What a function is built from: its own settings, and the ports they name.
pub struct Deps {
    settings: Settings,
    backend: Backend,
    secrets: Option<Arc<dyn SecretSource>>,
}

impl Deps {
    pub fn new(backend: Backend, settings: Settings) -> Self {
        Self { settings, backend, secrets: None }
    }

    /// Where the secrets came from, for a function that fetches a rotated one again.
    pub fn with_secrets(mut self, source: Option<Arc<dyn SecretSource>>) -> Self {
        self.secrets = source;
        self
    }

    pub fn secret_source(&self) -> Option<Arc<dyn SecretSource>> {
        self.secrets.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The table, for a function that declares `TABLE_NAME`.
    pub fn table(&self) -> Result<Arc<dyn Table>, SettingError> {
        self.settings.get(Setting::TableName)?;
        Ok(self.backend.table.clone())
    }

    /// The bucket, for a function that declares `BUCKET_NAME`.
    pub fn files(&self) -> Result<Arc<dyn Files>, SettingError> {
        self.settings.get(Setting::BucketName)?;
        Ok(self.backend.files.clone())
    }

    /// Every port, for a function that declares both `TABLE_NAME` and `BUCKET_NAME`.
    pub fn backend(&self) -> Result<Backend, SettingError> {
        self.settings.get(Setting::TableName)?;
        self.settings.get(Setting::BucketName)?;
        Ok(self.backend.clone())
    }

    /// The mail service, for a function that declares `MAIL_FROM`.
    pub fn mailer(&self) -> Result<Arc<dyn Mailer>, SettingError> {
        self.settings.get(Setting::MailFrom)?;
        Ok(self.backend.mail.clone())
    }

    /// The queue client; each queue's URL is a setting of its own.
    pub fn queue(&self) -> Arc<dyn Queue> {
        self.backend.queue.clone()
    }

    /// What the dispatcher needs for authenticated routes: the table and the cursor key.
    pub fn core(&self) -> Result<Core, SettingError> {
        Core::new(self.table()?, &self.settings)
    }
}

/// What is wrong with a set of declarations: two with one name, or two routes that one
/// request could match (the same method and path, whatever their parameters are called).
pub fn conflicts(functions: &[&Declaration]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = BTreeMap::new();
    let mut routes: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for function in functions {
        if names.insert(function.name, ()).is_some() {
            problems.push(format!("two functions are named {}", function.name));
        }
        for route in function.routes() {
            let shape = route_shape(&route.key);
            if let Some((other, key)) = routes.insert(shape, (function.name, route.key.as_str())) {
                problems
                    .push(format!("{} ({other}) and {} ({}) are one route", key, route.key, function.name));
            }
        }
    }
    problems
}

/// `GET /v1/contacts/{id}` as `GET /v1/contacts/{}`.
fn route_shape(key: &str) -> String {
    let mut shape = String::with_capacity(key.len());
    let mut in_param = false;
    for c in key.chars() {
        match c {
            '{' => {
                in_param = true;
                shape.push('{');
            }
            '}' => {
                in_param = false;
                shape.push('}');
            }
            _ if in_param => {}
            _ => shape.push(c),
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_runs_every_whole_minute_at_least() {
        let part =
            |secs: u64| SchedulePart { every: Duration::from_secs(secs), build: |_| Err("unused".into()) };
        let cases = [
            (0, "rate(1 minute)"),
            (30, "rate(1 minute)"),
            (90, "rate(2 minutes)"),
            (900, "rate(15 minutes)"),
        ];
        for (secs, expression) in
            cases.into_iter().chain([(3_600, "rate(1 hour)"), (2 * 86_400, "rate(2 days)")])
        {
            assert_eq!(part(secs).expression(), expression, "{secs} s");
        }
    }
}
