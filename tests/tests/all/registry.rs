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
    // The table only for the handshake's counters (the template confines it to them).
    assert!(!webhooks.reads(Setting::CursorSecret));
}

/// `[[bin]]` name and path pairs of a crate's manifest.
fn binaries_of(manifest: &str) -> Vec<(String, String)> {
    let value = |line: &str, key: &str| {
        let rest = line.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?;
        Some(rest.trim().trim_matches('"').to_owned())
    };
    let mut bins = Vec::new();
    let mut in_bin = false;
    let (mut name, mut path) = (None, None);
    for line in manifest.lines().chain(std::iter::once("[end]")) {
        if line.trim_start().starts_with('[') {
            if let (true, Some(n), Some(p)) = (in_bin, name.take(), path.take()) {
                bins.push((n, p));
            }
            in_bin = line.trim() == "[[bin]]";
        } else if in_bin {
            name = name.or_else(|| value(line, "name"));
            path = path.or_else(|| value(line, "path"));
        }
    }
    bins
}

/// The name in the declaration `static_name` of a crate's sources.
fn declared_name(sources: &str, static_name: &str) -> Option<String> {
    let start = sources.find(&format!("pub static {static_name}: Declaration = Declaration {{"))?;
    let rest = &sources[start..];
    let name = rest.split("name:").nth(1)?.trim_start().strip_prefix('"')?;
    Some(name.split('"').next()?.to_owned())
}

#[test]
fn each_lambda_binary_runs_its_own_declaration() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut served = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let Ok(manifest) = std::fs::read_to_string(dir.path().join("Cargo.toml")) else { continue };
        let crate_name = format!("gestor_{}", dir.file_name().to_string_lossy().replace('-', "_"));
        let mut sources = String::new();
        for file in std::fs::read_dir(dir.path().join("src")).into_iter().flatten().flatten() {
            sources.push_str(&std::fs::read_to_string(file.path()).unwrap_or_default());
        }
        for (bin, path) in binaries_of(&manifest) {
            let text = std::fs::read_to_string(dir.path().join(&path)).unwrap_or_default();
            let call = text
                .split("gestor_shared::lambda::run(&")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .unwrap_or_default();
            let (runs_crate, runs_static) = call.split_once("::").unwrap_or_default();
            assert!(text.lines().count() <= 5, "{bin}: a binary is one call of gestor_shared::lambda::run");
            assert_eq!(runs_crate, crate_name, "{bin} ({path}) runs another crate's declaration");
            assert_eq!(
                declared_name(&sources, runs_static).as_deref(),
                Some(bin.as_str()),
                "{bin} ({path}) runs `{call}`, which is not the declaration named {bin:?}"
            );
            served.push(bin);
        }
    }
    served.sort();
    let mut declared: Vec<String> = FUNCTIONS.iter().map(|f| f.name.to_owned()).collect();
    declared.sort();
    assert_eq!(served, declared, "one binary per declaration, named as it");
}
