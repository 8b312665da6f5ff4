//! Issue 11, findings 4 and 6, against the binary as operators run it: no secret reaches
//! Redis, the logs, the exported spans or the admin views; each role holds only its own keys;
//! the sealing key rotates without losing what the old key sealed.
//!
//! Multi-threaded runtimes: waiting for the process blocks a thread while the fakes answer.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::secret::{Sealer, Secret};
use testkit::TestDb;
use testkit::oauth::{CLIENT_ID, CLIENT_SECRET};
use testkit::otlp::FakeCollector;

use crate::cli::{Cli, Running, message, start_serving_with};

/// Every value under `prefix` in Redis, whatever its type, as one text.
async fn everything_in_redis(prefix: &str) -> String {
    let client = redis::Client::open(testkit::redis_url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    let mut all = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("type");
        let value: redis::Value = match kind.as_str() {
            "string" => redis::cmd("GET").arg(&key).query_async(&mut conn).await,
            "hash" => redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await,
            "set" => {
                redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
            }
            "zset" => {
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
            }
            "list" => {
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
            }
            "stream" => {
                redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut conn)
                    .await
            }
            _ => Ok(redis::Value::Nil),
        }
        .expect("read");
        all.push_str(&key);
        all.push(' ');
        all.push_str(&format!("{value:?}"));
        // Bytes show escaped in Debug: add them as text too.
        if let redis::Value::BulkString(bytes) = &value {
            all.push_str(&String::from_utf8_lossy(bytes));
        }
        collect_text(&value, &mut all);
        all.push('\n');
    }
    all
}

fn collect_text(value: &redis::Value, out: &mut String) {
    match value {
        redis::Value::BulkString(bytes) => {
            out.push(' ');
            out.push_str(&String::from_utf8_lossy(bytes));
        }
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().for_each(|v| collect_text(v, out))
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            collect_text(k, out);
            collect_text(v, out);
        }),
        _ => {}
    }
}

/// Plants marker secrets through every door an outsider or an admin uses, then looks for
/// them everywhere they could end up. d37e806: the Google access token was in the tokeninfo
/// URL, so in the job's stored error (Redis, the admin job view, the board), the logs and the
/// exported span; authorization codes sat in clear in job payloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_redis_logs_spans_or_admin_views() {
    let fake = testkit::FakeOAuth::start().await;
    let collector = FakeCollector::start().await;
    let cli = Cli::new();
    let db = TestDb::new().await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let marker = |what: &str| format!("MARKER{what}{run}");
    let (admin_key, sealing_key, jwt_secret) = (
        marker("ADMIN"),
        marker("SEALING"),
        marker("JWTSECRETXXXXXXXXX"),
    );
    let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
    let token_url = format!("{}/oauth2/token", fake.url);
    let userinfo = format!("{}/userinfo", fake.url);
    let (mut all, address) = start_serving_with(
        &cli,
        "all",
        &db,
        &[
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("LOG_LEVEL", "debug"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
            ("SECRET_KEY", admin_key.as_str()),
            ("SEALING_KEY", sealing_key.as_str()),
            ("JWT_SECRET", jwt_secret.as_str()),
            ("GOOGLE_CLIENT_ID", CLIENT_ID),
            ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
            ("GOOGLE_REDIRECT_URI", "http://127.0.0.1:9/landing"),
            ("GOOGLE_TOKEN_URL", token_url.as_str()),
            ("GOOGLE_USERINFO_URL", userinfo.as_str()),
            // Nothing listens there: every check fails in transport, and the error is stored.
            ("GOOGLE_TOKENINFO_URL", "http://127.0.0.1:9/tokeninfo"),
            ("DISCORD_CLIENT_ID", CLIENT_ID),
            ("DISCORD_CLIENT_SECRET", CLIENT_SECRET),
            (
                "DISCORD_REDIRECT_URI",
                "http://127.0.0.1:9/api/discord/callback",
            ),
            ("DISCORD_TOKEN_URL", token_url.as_str()),
        ],
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let api = |path: &str| format!("http://{address}{path}");

    // A Google access token, checked by a worker whose every attempt fails.
    let google_token = marker("GOOGLETOKEN");
    let resp = http
        .post(api("/api/login"))
        .json(&json!({ "access_token": google_token }))
        .send()
        .await
        .expect("login");
    // Google cannot be asked: pending (202) or failed for now (502), never a client error.
    assert!(
        [202, 502].contains(&resp.status().as_u16()),
        "{}",
        resp.status()
    );
    // An authorization code of the Google code flow (the provider refuses it).
    let start = http
        .post(api("/api/login/google"))
        .send()
        .await
        .expect("start");
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let start: Value = start.json().await.expect("json");
    let google_code = marker("GOOGLECODE");
    let resp = http
        .post(api("/api/login"))
        .header("cookie", cookie)
        .json(&json!({ "code": google_code, "state": start["state"] }))
        .send()
        .await
        .expect("code login");
    assert_eq!(resp.status(), 401, "the fake refuses the code");
    // A Discord authorization code at the callback, with an onboarding's state.
    let onboarded: Value = http
        .post(api("/api/user/onboarding"))
        .json(&json!({ "name": "Ada", "email": "ada@example.test" }))
        .send()
        .await
        .expect("onboarding")
        .json()
        .await
        .expect("json");
    let discord_code = marker("DISCORDCODE");
    let resp = http
        .get(api(&format!(
            "/api/discord/callback?code={discord_code}&state={}",
            onboarded["verification_token"].as_str().expect("state")
        )))
        .send()
        .await
        .expect("callback");
    assert_eq!(resp.status(), 302);
    // A login code and an invitation token typed wrong, and a wrong admin key.
    let login_code = marker("LOGINCODE");
    let invitation = marker("INVITATION");
    let wrong_key = marker("WRONGKEY");
    for (path, body) in [
        (
            "/api/discord/login",
            json!({ "discord_id": "4242", "code": login_code }),
        ),
        (
            "/api/verify",
            json!({ "email": "ada@example.test", "token": invitation }),
        ),
    ] {
        let resp = http
            .post(api(path))
            .header("x-api-key", &admin_key)
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert_eq!(resp.status(), 400, "{path}");
    }
    let resp = http
        .get(api("/api/users"))
        .header("x-api-key", &wrong_key)
        .send()
        .await
        .expect("users");
    assert_eq!(resp.status(), 401);

    // The access-token job dies after its attempts; wait for its stored error.
    let admin = |path: String| {
        let req = http.get(api(&path)).header("x-api-key", &admin_key);
        async move {
            req.send()
                .await
                .expect("admin view")
                .text()
                .await
                .expect("text")
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let dead: Value = loop {
        let text = admin("/api/admin/queues/exchange_oauth_code/jobs?state=dead".into()).await;
        let list: Value = serde_json::from_str(&text).expect("json");
        if list.as_array().is_some_and(|j| !j.is_empty()) {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "the failing sign-in never died: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let dead_id = dead[0]["id"].as_str().expect("id").to_owned();
    let mut views = vec![serde_json::to_string(&dead).expect("text")];
    views.push(
        admin(format!(
            "/api/admin/queues/exchange_oauth_code/jobs/{dead_id}"
        ))
        .await,
    );
    assert!(
        views[1].contains("\"error\":\"") && !views[1].contains("\"error\":null"),
        "the error was stored: {}",
        views[1]
    );
    for state in [
        "waiting",
        "running",
        "scheduled",
        "retrying",
        "done",
        "dead",
    ] {
        views.push(
            admin(format!(
                "/api/admin/queues/exchange_oauth_code/jobs?state={state}"
            ))
            .await,
        );
        views.push(admin(format!("/api/admin/queues/send_email/jobs?state={state}")).await);
    }
    let redis_text = everything_in_redis(&prefix).await;
    all.signal("TERM");
    assert_eq!(all.wait_exit(Duration::from_secs(30)), 0);
    let spans = collector.spans();
    assert!(!spans.is_empty(), "spans were exported");
    let spans_text = format!("{spans:?}");
    let logs = all.seen.join("\n");
    assert!(
        logs.contains("exchange_oauth_code"),
        "the logs saw the jobs"
    );

    for secret in [
        &google_token,
        &google_code,
        &discord_code,
        &login_code,
        &invitation,
        &wrong_key,
        &admin_key,
        &sealing_key,
        &jwt_secret,
    ] {
        for (place, text) in [
            ("Redis", &redis_text),
            ("the logs", &logs),
            ("the spans", &spans_text),
            ("the admin API", &views.join("\n")),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} is in {place}:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    assert_eq!(fake.tokens_in_urls(), 0);
}

/// Finding 6. d37e806: every process held `SECRET_KEY`, the admin key, and sealed with it.
/// Now the bot and the workers generate (and hold) only the sealing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_holds_only_its_own_keys() {
    let db = TestDb::new().await;
    let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
    let secrets = |cli: &Cli| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cli.dir.join("data/secrets"))
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let cli = Cli::new();
    let url = db.url();
    let mut worker = Running::start(
        &cli,
        &["worker"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("LOG_FORMAT", "json"),
            ("WORKER_METRICS_PORT", "0"),
        ],
    );
    worker.wait_for(Duration::from_secs(30), |v| {
        message(v).starts_with("serving queue")
    });
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(20)), 0);
    assert_eq!(
        secrets(&cli),
        ["sealing_key"],
        "a worker holds no admin key"
    );
    // The API needs all three.
    let cli = Cli::new();
    let (mut api, _) = start_serving_with(&cli, "api", &db, &[]);
    api.signal("TERM");
    assert_eq!(api.wait_exit(Duration::from_secs(20)), 0);
    assert_eq!(secrets(&cli), ["jwt_secret", "sealing_key", "secret_key"]);
    // Whatever the admin key is, it opens nothing the sealing key sealed.
    let admin = std::fs::read_to_string(cli.dir.join("data/secrets/secret_key")).expect("key");
    let sealing = std::fs::read_to_string(cli.dir.join("data/secrets/sealing_key")).expect("key");
    let sealed = Sealer::provider_tokens(&Secret::new(sealing.trim())).seal("refresh-token");
    assert!(
        Sealer::provider_tokens(&Secret::new(admin.trim()))
            .open(&sealed)
            .is_err()
    );
}

/// Rotation: values sealed under the previous key stay readable while it is listed in
/// `SEALING_KEY_PREVIOUS`; `concierge reseal` moves them to the new key, after which the old
/// key can go.
#[tokio::test]
async fn the_sealing_key_rotates_without_losing_sealed_tokens() {
    let db = TestDb::new().await;
    let old = Secret::new("o".repeat(40));
    let new = Secret::new("n".repeat(40));
    let lost = Secret::new("l".repeat(40));
    let user: i64 =
        sqlx::query_scalar("INSERT INTO users (email) VALUES ('r@example.test') RETURNING id")
            .fetch_one(&db.pool)
            .await
            .expect("user");
    for (subject, provider, key) in [("1", "discord", &old), ("2", "google", &lost)] {
        let sealer = Sealer::provider_tokens(key);
        sqlx::query(
            "INSERT INTO identities (user_id, provider, issuer, subject, access_token_enc,
                                     refresh_token_enc)
             VALUES ($1, $2, 'x', $3, $4, $5)",
        )
        .bind(user)
        .bind(provider)
        .bind(subject)
        .bind(sealer.seal("access"))
        .bind(sealer.seal("refresh"))
        .execute(&db.pool)
        .await
        .expect("identity");
    }
    let cli = Cli::new();
    let url = db.url();
    let reseal = |previous: &str| {
        let out = cli
            .command(
                &["reseal"],
                &[
                    ("DATABASE_URL", url.as_str()),
                    ("SEALING_KEY", new.expose()),
                    ("SEALING_KEY_PREVIOUS", previous),
                ],
            )
            .output()
            .expect("run reseal");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("one JSON line")
    };
    assert_eq!(
        reseal(old.expose()),
        json!({ "resealed": 2, "current": 0, "unreadable": 2 })
    );
    assert_eq!(
        reseal(""),
        json!({ "resealed": 0, "current": 2, "unreadable": 2 })
    );
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT refresh_token_enc FROM identities WHERE subject = '1'")
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!(
        Sealer::provider_tokens(&new).open(&sealed).expect("opens"),
        "refresh"
    );
    assert!(Sealer::provider_tokens(&old).open(&sealed).is_err());
}
