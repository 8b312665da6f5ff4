//! Conformance tests of the Redis backend against real Redis, each test under its own key
//! prefix, with workers running in-process (the process-level crash and signal tests live with
//! the binary's tests).

mod conformance;
mod introspection;
mod producer;
mod ratelimit;
mod results;
mod shards;
mod support;
