//! The Lua scripts, loaded once per process (EVALSHA, falling back to EVAL after a restart).

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
    CLAIM = "claim",
    SETTLE = "settle",
    PROMOTE = "promote",
    RELEASE = "release",
    REPLAY = "replay",
    HEARTBEAT = "heartbeat",
    DISCARD = "discard",
}
