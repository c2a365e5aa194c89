//! The local server's settings: the functions' own (with development defaults for secrets)
//! plus where to listen, where to keep data and which backend to use.

use anyhow::Context;
use gestor_shared::settings::Settings;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Embedded,
    Aws,
}

pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub backend: BackendKind,
    pub jwt_secret: String,
    /// The issuer and audience tokens must name.
    pub jwt: crate::token::Expected,
    pub settings: Settings,
    /// The AWS SDK configuration for `BackendKind::Aws`; `None` loads the standard
    /// environment (tests pass the emulator's instead of changing the process environment).
    pub sdk: Option<aws_config::SdkConfig>,
    /// Whether the sender's Graph API is this server's fake (`/dev/graph`) when
    /// `META_GRAPH_URL` is not set: `GESTOR_FAKE_CHANNELS=false` sends to the real one.
    pub fake_channels: bool,
}

pub const DEV_JWT_SECRET: &str = "gestor-dev-jwt-secret";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let addr = var("GESTOR_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let addr = addr.parse().with_context(|| format!("GESTOR_ADDR={addr} is not host:port"))?;
        let backend = match var("GESTOR_BACKEND").as_deref() {
            None | Some("embedded") => BackendKind::Embedded,
            Some("aws") => BackendKind::Aws,
            Some(other) => anyhow::bail!("GESTOR_BACKEND={other}: use embedded (default) or aws"),
        };
        Ok(Self {
            addr,
            data_dir: var("GESTOR_DATA_DIR").unwrap_or_else(|| ".gestor".into()).into(),
            backend,
            jwt_secret: var("GESTOR_DEV_JWT_SECRET").unwrap_or_else(|| DEV_JWT_SECRET.into()),
            jwt: crate::token::Expected {
                issuer: var("GESTOR_DEV_JWT_ISSUER").unwrap_or_else(|| crate::token::ISSUER.into()),
                audience: var("GESTOR_DEV_JWT_AUDIENCE").unwrap_or_else(|| crate::token::AUDIENCE.into()),
            },
            settings: Settings::local(),
            sdk: None,
            fake_channels: var("GESTOR_FAKE_CHANNELS").as_deref() != Some("false"),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The start banner: where to reach the server, the settings in force and a token to try it.
    pub fn print(addr: std::net::SocketAddr, settings: &str, demo_token: &str) {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let backend = match var("GESTOR_BACKEND").as_deref() {
            Some("aws") => format!(
                "aws, endpoint {}",
                var("AWS_ENDPOINT_URL").unwrap_or_else(|| "from the SDK's environment".into())
            ),
            _ => format!("embedded, data in {}", var("GESTOR_DATA_DIR").unwrap_or_else(|| ".gestor".into())),
        };
        let jwt = if var("GESTOR_DEV_JWT_SECRET").is_some() {
            "from GESTOR_DEV_JWT_SECRET"
        } else {
            "development default"
        };
        println!("GestorDigital local server");
        println!("  listening on   http://{addr}");
        println!("  backend        {backend}");
        println!("  JWT secret     {jwt} (HS256)");
        println!("  settings       {settings}");
        println!("  health         curl http://{addr}/health");
        println!("  demo token     tenant demo, owner@demo.mx, role owner:");
        println!("export TOKEN={demo_token}");
    }
}
