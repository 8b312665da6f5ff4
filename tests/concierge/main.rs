//! Tests of the `concierge` binary as an operator meets it: its commands, configuration
//! errors, logs, shutdown on signals, the committed OpenAPI spec, the deployment files, and
//! the size of the source files.

mod cli;
mod containers;
mod failover;
mod layout;
mod openapi;
mod queue;
mod secrets;
mod traces;
