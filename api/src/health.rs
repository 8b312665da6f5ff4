//! Health: `GET /api/health` says the process is alive (for liveness probes, no
//! dependencies); `GET /api/health/ready` says whether it can serve (readiness probes);
//! `GET /api/health/detailed` checks the database, Redis, the schema version, the queues
//! (sizes, oldest job, pause) and the workers (live processes, last heartbeat), and answers
//! 503 naming what is down.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};

use crate::admin::{QueueSummary, summaries};
use crate::auth::AdminAuth;
use crate::error::ErrorBody;
use crate::responses::responses;
use crate::state::{AppState, BuildInfo};

/// Every dependency check gives up after this long: a health endpoint must answer quickly
/// even when a dependency hangs instead of refusing.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Tags)]
enum HealthTags {
    /// Liveness and dependency health
    Health,
}

#[derive(Debug)]
pub struct HealthApi;

/// The process is up.
#[derive(Debug, Object)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum OverallStatus {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    Down,
    /// Not checked: what it is read from (Redis, for the queues and workers) is down.
    Unknown,
}

/// One dependency.
#[derive(Debug, Object)]
pub struct DependencyCheck {
    pub status: CheckStatus,
    /// Round trip of the check, when it answered.
    pub latency_ms: Option<f64>,
    /// Why it is down.
    pub error: Option<String>,
}

/// The schema version of the database against the one this build expects.
#[derive(Debug, Object)]
pub struct MigrationsCheck {
    /// `up` when the database is at (or past) the version this build expects.
    pub status: CheckStatus,
    /// Newest applied migration; absent when none was ever applied or the database is down.
    pub applied_version: Option<i32>,
    /// Newest migration shipped in this build.
    pub expected_version: i32,
    pub error: Option<String>,
}

/// The job queues: `down` while one is paused (its jobs wait until an admin resumes it).
#[derive(Debug, Object)]
pub struct QueuesCheck {
    pub status: CheckStatus,
    /// What is wrong, e.g. `paused: exchange_oauth_code (sign-ins wait until it is resumed)`.
    pub error: Option<String>,
    /// The paused queues.
    pub paused: Vec<String>,
    /// Every queue's sizes (empty when they could not be read).
    pub queues: Vec<QueueSummary>,
}

/// The workers: `down` when none is live, or when a queue with jobs waiting has none.
#[derive(Debug, Object)]
pub struct WorkersCheck {
    pub status: CheckStatus,
    /// What is wrong, e.g. `no live worker takes send_email (12 waiting)`.
    pub error: Option<String>,
    /// Worker processes with a heartbeat in the last two leases.
    pub live: u32,
    /// The newest heartbeat of any worker (UNIX ms); absent when none is live.
    pub last_heartbeat_ms: Option<u64>,
    /// Queues no live worker takes.
    pub queues_without_workers: Vec<String>,
}

#[derive(Debug, Object)]
pub struct Checks {
    pub database: DependencyCheck,
    pub redis: DependencyCheck,
    pub migrations: MigrationsCheck,
    pub queues: QueuesCheck,
    pub workers: WorkersCheck,
}

/// Health of the process and everything it depends on.
#[derive(Debug, Object)]
pub struct DetailedHealth {
    /// `healthy` when every check is up.
    pub status: OverallStatus,
    pub timestamp: DateTime<Utc>,
    /// Names of the checks that are down (`database`, `redis`, `migrations`, `queues`,
    /// `workers`).
    pub failing: Vec<String>,
    pub checks: Checks,
    pub build: BuildInfo,
}

/// Whether this replica can serve.
#[derive(Debug, Object)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// What is down: `database`, `redis`, `migrations`.
    pub failing: Vec<String>,
}

responses! {
    pub enum ReadinessResponse {
        200 Ready(Json<Readiness>),
        /// A dependency is down; `failing` names it.
        503 NotReady(Json<Readiness>),
    }
}

responses! {
    pub enum DetailedHealthResponse {
        /// Everything is up.
        200 Healthy(Json<DetailedHealth>),
        /// Missing or wrong credentials.
        401 Unauthorized(Json<ErrorBody>),
        /// The API token is not an admin's.
        403 Forbidden(Json<ErrorBody>),
        /// At least one dependency is down; `failing` names it.
        503 Unhealthy(Json<DetailedHealth>),
    }
}

#[OpenApi(prefix_path = "/health", tag = "HealthTags::Health")]
impl HealthApi {
    /// Liveness: the process is running and serving HTTP. Checks nothing else, so that a
    /// database outage does not get healthy API processes restarted.
    #[oai(path = "/", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Liveness> {
        Json(Liveness {
            status: "ok".into(),
        })
    }

    /// Readiness: this replica can serve requests now (database, Redis and schema all up).
    /// For load balancers and Kubernetes readiness probes: unauthenticated, and it names only
    /// what is down. Liveness is `GET /api/health`.
    #[oai(path = "/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self, state: Data<&AppState>) -> ReadinessResponse {
        let (database, redis, migrations) = tokio::join!(
            check_database(&state),
            check_redis(&state),
            check_migrations(&state)
        );
        let failing: Vec<String> = [
            ("database", database.status),
            ("redis", redis.status),
            ("migrations", migrations.status),
        ]
        .into_iter()
        .filter(|(_, s)| *s == CheckStatus::Down)
        .map(|(n, _)| n.to_owned())
        .collect();
        if failing.is_empty() {
            ReadinessResponse::Ready(Json(Readiness {
                status: "ready".into(),
                failing,
            }))
        } else {
            ReadinessResponse::NotReady(Json(Readiness {
                status: "not_ready".into(),
                failing,
            }))
        }
    }

    /// Dependency health: database, Redis, schema version, the queues (sizes, oldest job,
    /// paused) and the workers (live processes, last heartbeat), with build information.
    /// Answers 503 when anything is down, naming it in `failing` and saying why in its
    /// check's `error`. Admin only.
    #[oai(path = "/detailed", method = "get", operation_id = "health_detailed")]
    async fn detailed(&self, state: Data<&AppState>, _auth: AdminAuth) -> DetailedHealthResponse {
        let (database, redis, migrations) = tokio::join!(
            check_database(&state),
            check_redis(&state),
            check_migrations(&state)
        );
        let (queues, workers) = check_jobs(&state, redis.status).await;
        let mut failing = Vec::new();
        for (name, status) in [
            ("database", database.status),
            ("redis", redis.status),
            ("migrations", migrations.status),
            ("queues", queues.status),
            ("workers", workers.status),
        ] {
            if status == CheckStatus::Down {
                failing.push(name.to_owned());
            }
        }
        let body = DetailedHealth {
            status: if failing.is_empty() {
                OverallStatus::Healthy
            } else {
                OverallStatus::Unhealthy
            },
            timestamp: Utc::now(),
            failing,
            checks: Checks {
                database,
                redis,
                migrations,
                queues,
                workers,
            },
            build: state.build().clone(),
        };
        if body.status == OverallStatus::Healthy {
            DetailedHealthResponse::Healthy(Json(body))
        } else {
            tracing::warn!(failing = ?body.failing, "dependency health check failed");
            DetailedHealthResponse::Unhealthy(Json(body))
        }
    }
}

async fn timed<T, E: std::fmt::Display>(
    check: impl Future<Output = Result<T, E>>,
) -> (Result<T, String>, f64) {
    let started = Instant::now();
    let result = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    (result, started.elapsed().as_secs_f64() * 1000.0)
}

fn dependency(result: Result<(), String>, latency_ms: f64) -> DependencyCheck {
    match result {
        Ok(()) => DependencyCheck {
            status: CheckStatus::Up,
            latency_ms: Some(latency_ms),
            error: None,
        },
        Err(e) => DependencyCheck {
            status: CheckStatus::Down,
            latency_ms: None,
            error: Some(e),
        },
    }
}

async fn check_database(state: &AppState) -> DependencyCheck {
    let (result, ms) = timed(store::ping(state.db())).await;
    dependency(result.map(drop), ms)
}

async fn check_redis(state: &AppState) -> DependencyCheck {
    // A fresh connection each time: the check proves that a new client can get in, which is
    // what a restarting worker needs.
    let (result, ms) = timed(async {
        // On a cluster a fresh connection is one to every node: the shared one answers for
        // them (it reconnects by itself), and an anonymous caller cannot multiply sockets.
        let mut conn = match state.redis().is_cluster() {
            true => state.producer().connection(),
            false => state.redis().dedicated(Duration::from_secs(2)).await?,
        };
        redis::cmd("PING").query_async::<String>(&mut conn).await
    })
    .await;
    dependency(result.map(drop), ms)
}

async fn check_migrations(state: &AppState) -> MigrationsCheck {
    let expected_version = store::migrate::latest_version();
    let (result, _) = timed(store::migrate::applied_version(state.db())).await;
    match result {
        Ok(Some(applied)) if applied >= expected_version => MigrationsCheck {
            status: CheckStatus::Up,
            applied_version: Some(applied),
            expected_version,
            error: None,
        },
        Ok(applied) => MigrationsCheck {
            status: CheckStatus::Down,
            applied_version: applied,
            expected_version,
            error: Some("the database schema is behind this build: run `concierge migrate`".into()),
        },
        Err(e) => MigrationsCheck {
            status: CheckStatus::Down,
            applied_version: None,
            expected_version,
            error: Some(e),
        },
    }
}

/// The queues and the workers, read from Redis (when it is up).
async fn check_jobs(state: &AppState, redis: CheckStatus) -> (QueuesCheck, WorkersCheck) {
    let unknown = |error: String| {
        (
            QueuesCheck {
                status: CheckStatus::Unknown,
                error: Some(error.clone()),
                paused: Vec::new(),
                queues: Vec::new(),
            },
            WorkersCheck {
                status: CheckStatus::Unknown,
                error: Some(error),
                live: 0,
                last_heartbeat_ms: None,
                queues_without_workers: Vec::new(),
            },
        )
    };
    if redis != CheckStatus::Up {
        return unknown("not checked: Redis is down".into());
    }
    let producer = state.producer();
    let lease = state.config().job_lease;
    let read = async {
        let queues = summaries(producer).await?;
        let mut workers = Vec::with_capacity(queues.len());
        for queue in &queues {
            workers.push(producer.workers(&queue.queue, lease).await?);
        }
        Ok::<_, jobs::QueueError>((queues, workers))
    };
    let (queues, workers) = match timed(read).await {
        (Ok(read), _) => read,
        (Err(e), _) => return unknown(format!("not checked: {e}")),
    };
    let paused: Vec<String> = queues
        .iter()
        .filter(|q| q.paused)
        .map(|q| q.queue.clone())
        .collect();
    let processes: std::collections::HashSet<(&str, u32)> = workers
        .iter()
        .flatten()
        .map(|w| (w.host.as_str(), w.pid))
        .collect();
    let last_heartbeat_ms = workers.iter().flatten().map(|w| w.last_heartbeat_ms).max();
    let idle: Vec<&QueueSummary> = queues
        .iter()
        .zip(&workers)
        .filter(|(_, w)| w.is_empty())
        .map(|(q, _)| q)
        .collect();
    let starved: Vec<String> = idle
        .iter()
        .filter(|q| q.waiting > 0)
        .map(|q| format!("{} ({} waiting)", q.queue, q.waiting))
        .collect();
    let workers_error = if processes.is_empty() {
        Some(format!(
            "no live worker (none has heartbeated in the last {} s): start `concierge worker`",
            (lease * 2).as_secs()
        ))
    } else if !starved.is_empty() {
        Some(format!("no live worker takes {}", starved.join(", ")))
    } else {
        None
    };
    let workers_check = WorkersCheck {
        status: up_unless(workers_error.is_some()),
        error: workers_error,
        live: u32::try_from(processes.len()).unwrap_or(u32::MAX),
        last_heartbeat_ms,
        queues_without_workers: idle.iter().map(|q| q.queue.clone()).collect(),
    };
    let queues_error = (!paused.is_empty()).then(|| {
        let what = paused
            .iter()
            .map(|q| format!("{q} ({})", waits_for(q)))
            .collect::<Vec<_>>()
            .join(", ");
        format!("paused by an admin: {what}; resume it on the dashboard")
    });
    let queues_check = QueuesCheck {
        status: up_unless(queues_error.is_some()),
        error: queues_error,
        paused,
        queues,
    };
    (queues_check, workers_check)
}

/// `down` when something is wrong, else `up`.
fn up_unless(wrong: bool) -> CheckStatus {
    if wrong {
        CheckStatus::Down
    } else {
        CheckStatus::Up
    }
}

/// What waits while `queue` is paused, in a user's words.
fn waits_for(queue: &str) -> &'static str {
    use jobs::{ChatReply, ExchangeOauthCode, GenerateImage, Job, SendEmail};
    match queue {
        ExchangeOauthCode::QUEUE => "sign-ins and Discord links wait until it is resumed",
        SendEmail::QUEUE => "no mail goes out until it is resumed",
        ChatReply::QUEUE | GenerateImage::QUEUE => "the bot's answers wait until it is resumed",
        _ => "its jobs wait until it is resumed",
    }
}
