//! The outside services handlers talk to, each behind a small type with a real client; tests
//! replace the service at the network edge (an SMTP sink, fake HTTP servers), not here.

pub mod ai;
pub mod discord;
pub mod oauth;
pub mod png;
pub mod smtp;
