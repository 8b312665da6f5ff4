//! End-to-end tests of the Discord side: the bot process (serenity, over a real WebSocket),
//! Redis, the workers and a fake Discord (REST + gateway) and fake chat/image/speech API.

mod chat;
mod gate;
mod gateway;
mod shards;
mod support;
