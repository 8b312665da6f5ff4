//! Tests of the `concierge` binary as an operator meets it: its commands, configuration
//! errors, logs, shutdown on signals, the committed OpenAPI spec, and the deployment files.

mod cli;
mod containers;
mod openapi;
mod queue;
mod secrets;
mod traces;
