//! The function registry: no two functions claim one route, each function starts with exactly
//! the settings it declares, and each Lambda binary serves its own declaration.

use gestor_registry::FUNCTIONS;
use gestor_shared::backend::Backend;
use gestor_shared::http::{ApiError, Call, Policy, Reply};
use gestor_shared::registry::{Declaration, Deps, HttpPart, Serves, conflicts};
use gestor_shared::settings::{Setting, Settings};
use std::cell::RefCell;

#[test]
fn the_registry_has_one_function_per_name_and_per_route() {
    assert_eq!(conflicts(FUNCTIONS), Vec::<String>::new());
}

struct Catalog {
    function_name: String,
}

gestor_shared::routes!(Catalog, name: function_name, {
    product => Policy::public(),
});

/// One product.
#[utoipa::path(get, path = "/v1/products/{id}", responses((status = 200)))]
async fn product(_: &Catalog, _: Call) -> Result<Reply, ApiError> {
    Ok(Reply::no_content())
}

struct Inventory {
    function_name: String,
}

gestor_shared::routes!(Inventory, name: function_name, {
    item => Policy::public(),
});

/// The same route under another parameter name.
#[utoipa::path(get, path = "/v1/products/{product_id}", responses((status = 200)))]
async fn item(_: &Inventory, _: Call) -> Result<Reply, ApiError> {
    Ok(Reply::no_content())
}

fn declaration(name: &'static str, routes: fn() -> &'static [gestor_shared::http::Route]) -> Declaration {
    Declaration {
        name,
        settings: &[],
        serves: Serves::Http(HttpPart {
            routes,
            openapi: || utoipa::openapi::OpenApiBuilder::new().build(),
            build: |_| Err("not built in this test".into()),
        }),
    }
}

#[test]
fn two_functions_claiming_one_route_are_refused() {
    let catalog = declaration("catalog", Catalog::route_table);
    let inventory = declaration("inventory", Inventory::route_table);
    let found = conflicts(&[&catalog, &inventory]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("GET /v1/products/{id}") && found[0].contains("inventory"), "{found:?}");
    let again = declaration("catalog", Catalog::route_table);
    assert_eq!(conflicts(&[&catalog, &again]).len(), 2, "one name, one route: both reported");
    assert!(conflicts(&[&catalog]).is_empty());
    let _ = (Catalog { function_name: String::new() }, Inventory { function_name: String::new() });
}

/// What a deployed function would find in its environment: a value for every declared
/// setting, nothing else; every lookup is recorded.
fn deployed_settings(declaration: &Declaration, asked: &RefCell<Vec<String>>) -> Settings {
    let local = Settings::local_with(|_| None);
    let lookup = |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        let setting = declaration.settings.iter().find(|s| s.name() == name)?;
        local.get(*setting).ok().map(str::to_owned)
    };
    Settings::read(declaration.settings, lookup, false)
        .unwrap_or_else(|e| panic!("{}: {e}", declaration.name))
}

#[test]
fn every_function_starts_with_exactly_its_declared_settings() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend =
        Backend::embedded(dir.path(), "http://127.0.0.1:9", b"files").unwrap_or_else(|e| panic!("{e}"));
    for declaration in FUNCTIONS {
        let asked = RefCell::new(Vec::new());
        let settings = deployed_settings(declaration, &asked);
        let extra: Vec<String> = asked
            .into_inner()
            .into_iter()
            .filter(|n| {
                n != "AWS_LAMBDA_FUNCTION_NAME" && !declaration.settings.iter().any(|s| s.name() == n)
            })
            .collect();
        assert!(extra.is_empty(), "{} looked up {extra:?}", declaration.name);
        let deps = Deps::new(backend.clone(), settings);
        let built = match &declaration.serves {
            Serves::Http(http) => (http.build)(&deps).map(|_| ()),
            Serves::Queue(queue) => (queue.build)(&deps).map(|_| ()),
            Serves::Schedule(schedule) => (schedule.build)(&deps).map(|_| ()),
        };
        if let Err(e) = built {
            panic!("{} does not start with its declared settings: {e}", declaration.name);
        }
    }
}

#[test]
fn the_contacts_function_holds_no_channel_or_provider_secret() {
    let contacts = FUNCTIONS.iter().find(|f| f.name == "contacts").expect("contacts is registered");
    assert!(contacts.reads(Setting::CursorSecret));
    let forbidden = [
        Setting::ChannelTokenKeys,
        Setting::MetaAppSecret,
        Setting::MetaVerifyToken,
        Setting::TiktokClientSecret,
        Setting::AiApiKey,
    ];
    for setting in forbidden {
        assert!(!contacts.reads(setting), "contacts reads {}", setting.name());
    }
    let webhooks = FUNCTIONS.iter().find(|f| f.name == "webhooks").expect("webhooks is registered");
    assert!(!webhooks.reads(Setting::TableName) && !webhooks.reads(Setting::CursorSecret));
}

#[test]
fn each_lambda_binary_runs_its_own_declaration() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut binaries = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let main = dir.path().join("src/main.rs");
        let bins = std::fs::read_dir(dir.path().join("src/bin")).into_iter().flatten().flatten();
        for file in std::iter::once(main).chain(bins.map(|b| b.path())) {
            if let Ok(text) = std::fs::read_to_string(&file) {
                binaries.push((file, text));
            }
        }
    }
    assert_eq!(binaries.len(), FUNCTIONS.len(), "one binary per declaration");
    for (file, text) in binaries {
        let runs = text.contains("gestor_shared::lambda::run(&gestor_") && text.lines().count() <= 5;
        assert!(runs, "{}: a binary is `gestor_shared::lambda::run(&its::DECLARATION)`", file.display());
    }
}
