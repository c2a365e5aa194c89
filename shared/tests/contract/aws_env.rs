//! Reaching the AWS emulator from the contract tests.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The emulator's SDK configuration, or `None` when no emulator is configured. Panics when
/// `GESTOR_REQUIRE_AWS=1` and none is configured, so that CI cannot silently skip the AWS run.
pub async fn config() -> Option<SdkConfig> {
    let endpoint = std::env::var("GESTOR_TEST_AWS_ENDPOINT").ok().filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        assert!(
            std::env::var("GESTOR_REQUIRE_AWS").as_deref() != Ok("1"),
            "GESTOR_REQUIRE_AWS=1 but GESTOR_TEST_AWS_ENDPOINT is not set"
        );
        return None;
    };
    Some(
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "contract-tests"))
            .load()
            .await,
    )
}

/// A name no other test uses, so tests run in parallel against one emulator.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}
