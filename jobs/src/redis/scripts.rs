//! The Lua scripts, loaded once per process (EVALSHA, falling back to EVAL after a restart).
//! The two that announce finished jobs have a cluster variant that announces them with
//! `SPUBLISH` (on the node of the queue's slot) instead of `PUBLISH` (to every node).

use std::sync::LazyLock;

use redis::Script;

/// `script! { NAME = "file", … }`: each script in `jobs/lua/<file>.lua`, compiled in and hashed once.
macro_rules! script {
    ($($name:ident = $file:literal),* $(,)?) => {
        $(
            pub(crate) static $name: LazyLock<Script> =
                LazyLock::new(|| Script::new(include_str!(concat!("../../lua/", $file, ".lua"))));
        )*
    };
}

script! {
    PUSH = "push",
    PROMOTE = "promote",
    RELEASE = "release",
    REPLAY = "replay",
    HEARTBEAT = "heartbeat",
    DISCARD = "discard",
}

/// `script_announcing! { NAME, SHARDED_NAME = "file", … }`: a script that publishes on its
/// queue's results channel, as is and with each `PUBLISH` made `SPUBLISH`.
macro_rules! script_announcing {
    ($($name:ident, $sharded:ident = $file:literal),* $(,)?) => {
        $(
            static $name: LazyLock<Script> =
                LazyLock::new(|| Script::new(include_str!(concat!("../../lua/", $file, ".lua"))));
            static $sharded: LazyLock<Script> = LazyLock::new(|| {
                let text = include_str!(concat!("../../lua/", $file, ".lua"));
                Script::new(&text.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',"))
            });
        )*
    };
}

script_announcing! {
    CLAIM, CLAIM_SHARDED = "claim",
    SETTLE, SETTLE_SHARDED = "settle",
}

/// `claim.lua` for a connection to one node or a cluster.
pub(crate) fn claim(cluster: bool) -> &'static Script {
    if cluster { &CLAIM_SHARDED } else { &CLAIM }
}

/// `settle.lua` for a connection to one node or a cluster.
pub(crate) fn settle(cluster: bool) -> &'static Script {
    if cluster { &SETTLE_SHARDED } else { &SETTLE }
}

#[cfg(test)]
mod tests {
    /// Every announcement of the sharded variants is an `SPUBLISH`: a `PUBLISH` left over
    /// would broadcast to every node of a cluster, and a subscriber of the sharded channel
    /// would never hear it.
    #[test]
    fn sharded_variants_publish_only_sharded() {
        for (file, text) in [
            ("claim", include_str!("../../lua/claim.lua")),
            ("settle", include_str!("../../lua/settle.lua")),
        ] {
            assert!(text.contains("redis.call('PUBLISH',"), "{file} announces");
            let sharded = text.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',");
            assert!(!sharded.contains("'PUBLISH'"), "{file}: a PUBLISH is left");
        }
    }
}
