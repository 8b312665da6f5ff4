//! The Lua scripts, loaded once per process (EVALSHA, falling back to EVAL after a restart).

use std::sync::LazyLock;

use redis::Script;

pub(crate) static PUSH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/push.lua")));
pub(crate) static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/claim.lua")));
pub(crate) static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/settle.lua")));
pub(crate) static PROMOTE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/promote.lua")));
pub(crate) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/release.lua")));
pub(crate) static REPLAY: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/replay.lua")));
pub(crate) static HEARTBEAT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/heartbeat.lua")));
