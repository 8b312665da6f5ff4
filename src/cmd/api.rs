//! `concierge api`: the HTTP API (docs at `/api/docs`) and, on its own port, the job board,
//! both stopping gracefully on shutdown.

use anyhow::Context;
use concierge::config::Config;
use poem::listener::{Acceptor, Listener};
use tokio_util::sync::CancellationToken;

/// Serves the API and the job board until shutdown, then closes the database pool.
pub(crate) async fn run(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pool = store::connect(&config.database.settings);
    let redis = config
        .redis
        .client()
        .with_context(|| format!("{} does not name a usable Redis", config.redis.setting()))?;
    let producer = super::services::producer(config).await?;
    let state = api::AppState::new(
        pool.clone(),
        redis,
        producer,
        config.api_config(build_info()),
    );
    let board = serve_board(config, state.clone(), shutdown.clone());
    let app = api::app(state, config.server.http());
    let (acceptor, local) = listen(config.server.host, config.server.port, "PORT").await?;
    tracing::info!(
        address = %local,
        database = %config.database.settings.display_target(),
        "API listening; docs at http://{}/api/docs",
        display_host(local)
    );
    let api = async {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move { shutdown.cancelled().await },
                Some(config.server.shutdown_grace),
            )
            .await
            .context("the HTTP server failed")
    };
    tokio::try_join!(api, board)?;
    pool.close().await;
    tracing::info!("API stopped");
    Ok(())
}

/// Binds `host:port` (`setting` names the port's setting in the error) and tells the address
/// it got (port 0 picks a free one).
async fn listen(
    host: std::net::IpAddr,
    port: u16,
    setting: &str,
) -> anyhow::Result<(impl Acceptor + 'static, std::net::SocketAddr)> {
    let addr = std::net::SocketAddr::new(host, port);
    let acceptor = poem::listener::TcpListener::bind(addr)
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {addr} (settings HOST and {setting})"))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(addr);
    Ok((acceptor, local))
}

/// The job board on its own port (`BOARD_PORT`; 0: not served).
async fn serve_board(
    config: &Config,
    state: api::AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if config.server.board_port == 0 {
        return Ok(());
    }
    let (acceptor, local) =
        listen(config.server.host, config.server.board_port, "BOARD_PORT").await?;
    tracing::info!(
        address = %local,
        "job board listening on http://{}/ (user: any, password: the admin key or an admin token)",
        display_host(local)
    );
    // Its requests are short reads; only event streams stay open, and those may be cut.
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            api::board::board(state),
            async move { shutdown.cancelled().await },
            Some(std::time::Duration::from_secs(1)),
        )
        .await
        .context("the job board's HTTP server failed")
}

/// `0.0.0.0:8000` is where we listen, `localhost:8000` is what a person can open.
fn display_host(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// What this binary is, for `/api/health/detailed`: its version, commit and build profile.
fn build_info() -> api::BuildInfo {
    api::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: env!("CONCIERGE_GIT_COMMIT").to_owned(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_owned(),
    }
}
