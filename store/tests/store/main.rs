//! Integration tests of the store against real Postgres: the migrations (seed 004's lesson:
//! the schema the code expects is the schema the migrations build, and upgrades lose nothing)
//! and the queries.

mod adopt;
mod api_tokens;
mod identities;
mod migrations;
mod pool;
