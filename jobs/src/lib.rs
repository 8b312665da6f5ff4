//! The contract between producers (API, bot, workers) and workers: one file per job payload
//! with its stable queue name, the producer handle (push, push in bulk, schedule, await a
//! result), and the Redis backend for apalis that runs them.
//!
//! Empty in this build: the queue is the next piece of work (see the README's roadmap). Until
//! then the API and the bot enqueue nothing, and `concierge worker` says so and exits.
