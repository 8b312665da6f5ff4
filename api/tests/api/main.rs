//! Integration tests of the HTTP API: the app in-process on a free port, against real
//! Postgres and Redis (see `testkit`); what the modules share is in `support`.

mod attacks;
mod board;
mod console;
mod console_api;
mod discord;
mod docs;
mod errors;
mod health;
mod invitations;
mod sessions;
mod support;
