//! Cross-function tests, in one binary to keep link time down: the SAM template against the
//! code, the OpenAPI document against the routes, and the local server driven over HTTP.

mod template;
