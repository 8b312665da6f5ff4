//! Integration tests of the HTTP API: the app in-process on a free port, against real
//! Postgres and Redis (see `testkit`).

mod docs;
mod errors;
mod health;
