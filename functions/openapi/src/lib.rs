//! The `openapi` function: `GET /v1/openapi.json`, no login. The document is merged from every
//! function's part at build time and kept in the repository (`openapi.json` beside this
//! crate); a test regenerates it and fails when the committed file or the routes disagree.

use gestor_shared::http::{Access, Route};
use lambda_http::{Body, Request, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder};

pub const ROUTES: &[Route] =
    &[Route { key: "GET /v1/openapi.json", access: Access::Public, audit: None, idempotent: false }];

/// The merged document, as committed.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// Answers the document; this function has no other route.
pub async fn handle(req: Request) -> Response<Body> {
    let answer = if req.method() == "GET" {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("cache-control", "public, max-age=300")
            .body(Body::from(DOCUMENT))
    } else {
        Response::builder()
            .status(405)
            .header("content-type", "application/problem+json")
            .body(Body::from(
                r#"{"type":"https://gestordigital.mx/problems/method-not-allowed","title":"Method not allowed","status":405,"detail":"only GET is served here"}"#,
            ))
    };
    answer.unwrap_or_else(|_| Response::new(Body::Empty))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(document))]
struct ApiDoc;

/// The OpenAPI 3.1 document of the whole API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "The document", content_type = "application/json")), security(()))]
#[allow(dead_code)]
fn document() {}

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
    doc.merge(<ApiDoc as utoipa::OpenApi>::openapi());
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
