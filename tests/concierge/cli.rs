//! The `concierge` binary's commands as an operator runs them, and what the other modules
//! share to run it: a clean working directory ([`Cli`]), a running process whose JSON log
//! lines a test waits for ([`Running`]), and a server started on a free port.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::TestDb;

/// `concierge` in an empty working directory with a clean environment: nothing from the
/// developer's shell, `.env` or `config.yml` leaks in.
pub(crate) struct Cli {
    pub(crate) dir: PathBuf,
}

impl Cli {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("concierge-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Cli { dir }
    }

    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_concierge"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let out = self.command(args, env).output().expect("run concierge");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn invalid_settings_stop_the_start_with_one_line_naming_them() {
    let cli = Cli::new();
    for (env, setting) in [
        (("PORT", "eighty"), "PORT"),
        (("DB_PORT", "-1"), "DB_PORT"),
        (("LOG_FORMAT", "xml"), "LOG_FORMAT"),
        (("REDIS_URL", "http://localhost"), "REDIS_URL"),
        (("VERIFICATION_TIMEOUT", "soon"), "VERIFICATION_TIMEOUT"),
    ] {
        let (code, stderr) = cli.run(&["api"], &[env]);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("concierge: invalid setting {setting}")),
            "{stderr}"
        );
    }
}

#[test]
fn secrets_are_not_echoed_in_errors() {
    let cli = Cli::new();
    let (code, stderr) = cli.run(&["api"], &[("JWT_SECRET", "too-short-secret-value")]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("JWT_SECRET") && !stderr.contains("too-short-secret-value"),
        "{stderr}"
    );
    let (code, stderr) = cli.run(
        &["migrate"],
        &[("DATABASE_URL", "postgres://u:hunter2@[bad/x")],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("DATABASE_URL") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

#[test]
fn a_named_config_file_must_exist_and_parse() {
    let cli = Cli::new();
    let (code, stderr) = cli.run(&["api", "--config", "missing.yml"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.yml"), "{stderr}");
    std::fs::write(cli.dir.join("config.yml"), "server:\n  prot: 8000\n").expect("write");
    let (code, stderr) = cli.run(&["api"], &[]);
    assert_eq!(code, 2, "config.yml is read when present");
    assert!(stderr.contains("unknown field `prot`"), "{stderr}");
}

#[test]
fn the_bot_without_a_token_says_so() {
    let cli = Cli::new();
    let (code, stderr) = cli.run(&["bot"], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("DISCORD_BOT_TOKEN is not set"), "{stderr}");
}

/// Nothing listens on port 1 of loopback: a connection there is refused at once.
const NOBODY: &str = "127.0.0.1:1";

#[tokio::test]
async fn all_says_in_one_line_which_service_is_missing_and_how_to_get_it() {
    let cli = Cli::new();
    let db = TestDb::empty().await;
    let silent_postgres = format!("postgres://postgres@{NOBODY}/concierge");
    let silent_redis = format!("redis://:hunter2@{NOBODY}");
    let url = db.url();
    let cases = [
        (
            vec![
                ("DATABASE_URL", silent_postgres.as_str()),
                ("REDIS_URL", silent_redis.as_str()),
            ],
            vec![
                format!("PostgreSQL at {NOBODY}/concierge (DATABASE_URL"),
                format!("Redis at {NOBODY} (REDIS_URL"),
            ],
        ),
        (
            vec![
                ("DATABASE_URL", url.as_str()),
                ("REDIS_URL", silent_redis.as_str()),
            ],
            vec![format!("Redis at {NOBODY} (REDIS_URL")],
        ),
    ];
    for (env, named) in cases {
        let started = Instant::now();
        let (code, stderr) = cli.run(&["all"], &env);
        assert_eq!(code, 1, "{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "one line: {stderr}");
        for name in &named {
            assert!(errors[0].contains(name.as_str()), "{name} in {stderr}");
        }
        assert!(
            errors[0].contains("scripts/services")
                && errors[0].contains("docker compose -f docker/compose.yaml up"),
            "both ways to get them: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "said at once, not after a long wait"
        );
    }
    assert_eq!(
        store::migrate::applied_version(&db.pool)
            .await
            .expect("query"),
        None,
        "nothing started (not even the migrations) while Redis was missing"
    );
}

#[test]
fn a_role_waiting_for_redis_says_so_and_then_how_to_get_it() {
    let cli = Cli::new();
    let silent_redis = format!("redis://{NOBODY}");
    let mut worker = Running::start(
        &cli,
        &["worker"],
        &[
            ("REDIS_URL", silent_redis.as_str()),
            ("LOG_FORMAT", "json"),
            ("WORKER_METRICS_PORT", "0"),
        ],
    );
    let waiting = worker.wait_for(Duration::from_secs(5), |v| {
        message(v) == "waiting for Redis (REDIS_URL) to answer"
    });
    assert_eq!(waiting["redis"], NOBODY, "{waiting}");
    assert_eq!(worker.wait_exit(Duration::from_secs(30)), 1);
    let last = worker.seen.last().expect("a last line");
    assert!(
        last.contains(&format!("cannot reach Redis at {NOBODY} (REDIS_URL)"))
            && last.contains("scripts/services"),
        "{last}"
    );
}

#[test]
fn help_describes_every_command() {
    let cli = Cli::new();
    let out = cli.command(&["--help"], &[]).output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["all", "api", "worker", "bot", "migrate", "openapi"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} in {help}"
        );
    }
}

#[tokio::test]
async fn migrate_creates_the_database_and_applies_every_migration() {
    let cli = Cli::new();
    let db = TestDb::empty().await;
    let name = format!("{}_created", db.name);
    let url = format!("{}_created", db.url());
    let (code, stderr) = cli.run(&["migrate"], &[("DATABASE_URL", &url)]);
    let admin = testkit::pg_admin_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    let cleanup = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let created = async {
        let settings = store::DatabaseSettings::from_url(&url).expect("url");
        let pool = store::connect(&settings);
        let version = store::migrate::applied_version(&pool).await;
        pool.close().await;
        version
    }
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(cleanup))
        .execute(&mut conn)
        .await
        .expect("cleanup");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        created.expect("query"),
        Some(store::migrate::latest_version())
    );
    assert!(stderr.contains("created the database"), "{stderr}");
}

#[tokio::test]
async fn migrate_adopts_a_replaced_systems_database_only_when_asked() {
    let cli = Cli::new();
    let db = TestDb::empty().await;
    let seed = include_str!("../../store/tests/store/fixtures/legacy/seed_004a.sql");
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed))
        .execute(&db.pool)
        .await
        .expect("seed 004's database");
    let url = db.url();
    let (code, stderr) = cli.run(&["migrate"], &[("DATABASE_URL", &url)]);
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one line: {stderr}");
    assert!(
        errors[0].contains("activity_log, alembic_version, user_sessions, users")
            && errors[0].contains("concierge migrate --adopt"),
        "names the tables and the way on: {stderr}"
    );
    assert_eq!(
        store::migrate::applied_version(&db.pool)
            .await
            .expect("query"),
        None,
        "nothing was changed"
    );

    let (code, stderr) = cli.run(&["migrate", "--adopt"], &[("DATABASE_URL", &url)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("adopted: 5 legacy rows: 4 users, 1 merged"),
        "{stderr}"
    );
    assert!(
        stderr.contains("legacy_id=3") && stderr.contains("shares its email with legacy rows [4]"),
        "{stderr}"
    );
    assert_eq!(
        store::migrate::applied_version(&db.pool)
            .await
            .expect("query"),
        Some(store::migrate::latest_version())
    );
    // Adopted once: a later start is a plain migration.
    let (code, stderr) = cli.run(&["migrate"], &[("DATABASE_URL", &url)]);
    assert_eq!(code, 0, "{stderr}");
}

/// A running `concierge api` whose stderr (JSON logs) is collected line by line.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub(crate) seen: Vec<String>,
}

impl Running {
    pub(crate) fn start(cli: &Cli, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = cli
            .command(args, env)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn concierge");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first log line (as JSON) for which `pick` is true, within `timeout`.
    pub(crate) fn wait_for(&mut self, timeout: Duration, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && pick(&v)
                    {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!("no such log line; saw:\n{}", self.seen.join("\n"));
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Collect what it logged on the way out.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "did not exit within {timeout:?}; saw:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    /// A failing test must not leave a server or worker behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

/// Starts `concierge <command>` on a free port against `db`, with JSON logs, and returns it
/// with the address it listens on once it says so.
fn start_serving(cli: &Cli, command: &str, db: &TestDb) -> (Running, String) {
    start_serving_with(cli, command, db, &[])
}

/// [`start_serving`] with more settings.
pub(crate) fn start_serving_with(
    cli: &Cli,
    command: &str,
    db: &TestDb,
    extra: &[(&str, &str)],
) -> (Running, String) {
    let url = db.url();
    let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
    let mut env = vec![
        ("DATABASE_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        // Parallel tests cannot share the board's fixed port; a test that wants it sets one.
        ("BOARD_PORT", "0"),
        ("LOG_FORMAT", "json"),
    ];
    env.extend_from_slice(extra);
    let mut running = Running::start(cli, &[command], &env);
    let listening = running.wait_for(Duration::from_secs(30), |v| {
        message(v).starts_with("API listening")
    });
    let address = listening["address"]
        .as_str()
        .expect("address field")
        .to_owned();
    (running, address)
}

/// `GET http://{address}{path}`, answered.
pub(crate) async fn get(address: &str, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{address}{path}"))
        .await
        .expect("request")
}

/// The value of the response's header `name` (which it must have, in ASCII).
pub(crate) fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()[name].to_str().expect("ascii").to_owned()
}

async fn api_shuts_down_gracefully_on(signal: &str) {
    let cli = Cli::new();
    let db = TestDb::new().await;
    let (mut api, address) = start_serving(&cli, "api", &db);

    let resp = get(&address, "/api/health").await;
    assert_eq!(resp.status(), 200);
    let request_id = header(&resp, "x-request-id");
    // JSON logs carry the request id of the request they concern.
    let logged = api.wait_for(Duration::from_secs(5), |v| message(v) == "request finished");
    assert_eq!(
        logged["span"]["request_id"],
        request_id.as_str(),
        "{logged}"
    );

    api.signal(signal);
    assert_eq!(
        api.wait_exit(Duration::from_secs(10)),
        0,
        "clean exit on SIG{signal}"
    );
    assert!(
        api.seen.iter().any(|l| l.contains("API stopped")),
        "{}",
        api.seen.join("\n")
    );
}

#[tokio::test]
async fn api_shuts_down_gracefully_on_sigterm() {
    api_shuts_down_gracefully_on("TERM").await;
}

#[tokio::test]
async fn api_shuts_down_gracefully_on_sigint() {
    api_shuts_down_gracefully_on("INT").await;
}

#[tokio::test]
async fn all_migrates_then_serves_the_docs_and_the_board() {
    let cli = Cli::new();
    let db = TestDb::empty().await;
    // A port free a moment ago (0 would turn the board off).
    let board_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let (mut all, address) =
        start_serving_with(&cli, "all", &db, &[("BOARD_PORT", board_port.as_str())]);
    assert!(
        all.seen
            .iter()
            .any(|l| l.contains("DISCORD_BOT_TOKEN is not set")),
        "the bot is skipped with a log line"
    );
    let resp = get(&address, "/api/docs").await;
    assert_eq!(resp.status(), 200);
    all.wait_for(Duration::from_secs(10), |v| {
        message(v).starts_with("job board listening")
    });
    let key = std::fs::read_to_string(cli.dir.join("data/secrets/secret_key")).expect("key");
    let board = format!("http://127.0.0.1:{board_port}/api/v1/queues");
    let client = reqwest::Client::new();
    let resp = client.get(&board).send().await.expect("board");
    assert_eq!(resp.status(), 401);
    let resp = client
        .get(&board)
        .basic_auth("admin", Some(key.trim()))
        .send()
        .await
        .expect("board");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        store::migrate::applied_version(&db.pool)
            .await
            .expect("query"),
        Some(store::migrate::latest_version())
    );
    assert!(
        cli.dir.join("data/secrets/secret_key").exists(),
        "a generated admin key is kept"
    );
    all.signal("TERM");
    assert_eq!(all.wait_exit(Duration::from_secs(10)), 0);
}
