//! Tests of the worker runtime and its handlers against real Postgres and Redis.

mod sweep;
