//! The physical limit: `redis-benchmark` on the commands one job needs, and one Lua
//! enqueue → claim → ack cycle, unpipelined and pipelined.

use serde_json::json;

use crate::measure::report;
use crate::subject::Bench;

impl Bench {
    /// The physical limit: `redis-benchmark` on the commands one job needs, and one Lua
    /// enqueue → claim → ack cycle.
    pub(crate) fn redis_benchmark(&self) -> anyhow::Result<()> {
        let port = self.client.get_connection_info().addr().to_string();
        let port = port.rsplit(':').next().unwrap_or("6379").to_owned();
        let n = if self.settings.quick {
            "50000"
        } else {
            "200000"
        };
        let stream = format!("{}:rb:{{s}}", self.prefix);
        let _: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg("g")
            .arg("0")
            .arg("MKSTREAM")
            .query(&mut self.client.get_connection()?);
        let cycle = "redis.call('XADD', KEYS[1], '*', 'id', 'x') \
                     local r = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 1, 'STREAMS', KEYS[1], '>') \
                     local id = r[1][2][1][1] redis.call('XACK', KEYS[1], 'g', id) redis.call('XDEL', KEYS[1], id) return 1";
        let cases: Vec<(&str, Vec<String>)> = vec![
            (
                "XADD",
                vec![
                    "XADD".into(),
                    stream.clone(),
                    "*".into(),
                    "id".into(),
                    "x".into(),
                ],
            ),
            (
                "HSET",
                vec![
                    "HSET".into(),
                    format!("{}:rb:{{s}}:h:__rand_int__", self.prefix),
                    "state".into(),
                    "done".into(),
                ],
            ),
            (
                "ZADD",
                vec![
                    "ZADD".into(),
                    format!("{}:rb:{{s}}:z", self.prefix),
                    "__rand_int__".into(),
                    "m__rand_int__".into(),
                ],
            ),
            (
                "EVAL enqueue+claim+ack",
                vec!["EVAL".into(), cycle.into(), "1".into(), stream.clone()],
            ),
        ];
        for (name, command) in cases {
            for pipeline in ["1", "32"] {
                let out = std::process::Command::new("redis-benchmark")
                    .args([
                        "-p", &port, "-n", n, "-c", "32", "-P", pipeline, "-r", "1000000", "--csv",
                    ])
                    .args(&command)
                    .output();
                let rps = match out {
                    Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .nth(1)
                        // The command (first column) may hold commas: count from the end.
                        .and_then(|l| l.rsplit(',').nth(6).map(|v| v.trim_matches('"').to_owned()))
                        .and_then(|v| v.parse::<f64>().ok()),
                    _ => None,
                };
                report(
                    json!({"case": "redis_benchmark", "command": name, "pipeline": pipeline.parse::<u32>().unwrap_or(1), "ops_per_s": rps}),
                );
            }
        }
        Ok(())
    }
}
