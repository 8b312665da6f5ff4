//! Tests of the `concierge` binary as an operator meets it: its commands, configuration
//! errors, logs, shutdown on signals, and the committed OpenAPI spec.

mod cli;
mod openapi;
mod queue;
