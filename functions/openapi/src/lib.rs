//! The `openapi` function: `GET /v1/openapi.json`, no login. The document is merged from every
//! function's part (the registry) and kept in the repository (`openapi.json` beside this
//! crate); a test regenerates it and fails when the committed file or the routes disagree.

use gestor_shared::http::{ApiError, Call, Policy, Reply};
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder};

/// The merged document, as committed.
pub const DOCUMENT: &str = include_str!("../openapi.json");

pub static FUNCTION: Declaration = Declaration {
    name: "openapi",
    settings: &[],
    serves: Serves::Http(HttpPart {
        routes: Document::route_table,
        openapi: part,
        build: |deps| Ok(Arc::new(Document { function_name: deps.settings().function_name.clone() })),
    }),
};

/// The function: it holds nothing but its name; the document is compiled in.
pub struct Document {
    function_name: String,
}

gestor_shared::routes!(Document, name: function_name, {
    document => Policy::public(),
});

/// The OpenAPI 3.1 document of the whole API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "The document", content_type = "application/json")), security(()))]
pub async fn document(_: &Document, _: Call) -> Result<Reply, ApiError> {
    Ok(Reply::raw(200, "application/json", DOCUMENT).header("cache-control", "public, max-age=300"))
}

fn part() -> OpenApi {
    let mut doc = OpenApiBuilder::new().build();
    Document::openapi_paths(&mut doc);
    doc
}

/// Merges the functions' parts under the API's title, version and security scheme.
pub fn merge(parts: Vec<OpenApi>) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("GestorDigital API")
                .version("1.0.0")
                .description(Some(
                    "The HTTP API of GestorDigital, an omnichannel CRM. Errors are application/problem+json; \
                     lists answer {items, next_cursor}; writes accept Idempotency-Key; PATCH is a JSON merge patch \
                     with If-Match.",
                ))
                .build(),
        )
        .build();
    for part in parts {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
    doc
}

/// The document rendered as committed: pretty JSON with a final newline.
pub fn render(doc: &OpenApi) -> String {
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
