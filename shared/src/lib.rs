//! GestorDigital's common crate: domain types and rules, the storage/queue/file ports with
//! their AWS and embedded adapters, repositories written once over the ports, and the HTTP
//! glue every function shares (auth context, errors, cursors, audit).
//!
//! It never knows which function calls it.

pub mod adapters;
pub mod backend;
pub mod crypto;
pub mod deactivation;
pub mod dead_letters;
pub mod deferred;
pub mod domain;
pub mod events;
pub mod fetch_guard;
pub mod graph;
pub mod http;
pub mod ids;
pub mod inbound;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod normalize;
pub mod outbound;
pub mod ports;
pub mod registry;
pub mod repo;
pub mod resources;
pub mod settings;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod worker;
