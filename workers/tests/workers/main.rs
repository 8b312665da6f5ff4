//! Tests of the worker runtime and its handlers against real Postgres and Redis.

mod discord;
mod metrics;
mod refresh_provider_token;
mod send_email;
mod support;
mod sweep;
