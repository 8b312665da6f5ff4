//! The Discord bot (serenity): gateway events and slash commands. It reads the store and
//! pushes jobs; the workers do everything that talks to Discord REST or a provider.
//!
//! Empty in this build: `concierge bot` reports that and exits (see the README's roadmap).
