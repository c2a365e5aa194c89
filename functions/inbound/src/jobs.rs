//! The deferred queue's jobs live in shared, because the outbound worker also hands it the
//! updates parked under a reply's channel id.

pub use gestor_shared::deferred::*;
