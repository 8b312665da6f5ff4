//! `concierge healthcheck`: exit 0 when this deployment's API answers ready, or with `--deps`
//! when the database and Redis answer; for container healthchecks (the image has no curl).

use std::process::ExitCode;

use anyhow::Context;
use concierge::config::Config;

/// `concierge healthcheck`: 0 when ready, 1 when not (with one line on stderr saying why).
pub(crate) async fn run(config: &Config, url: Option<String>, deps: bool) -> ExitCode {
    let timeout = std::time::Duration::from_secs(3);
    let result: anyhow::Result<()> = if deps {
        async {
            let pool = store::connect(&config.database.settings);
            tokio::time::timeout(timeout, store::ping(&pool))
                .await
                .context("the database did not answer in time")?
                .context("the database is down")?;
            let client = config.redis.client()?;
            let mut conn = tokio::time::timeout(timeout, client.dedicated(timeout))
                .await
                .context("Redis did not answer in time")??;
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok(())
        }
        .await
    } else {
        let url = url
            .unwrap_or_else(|| format!("http://127.0.0.1:{}/api/health/ready", config.server.port));
        tokio::time::timeout(timeout, http_status(&url))
            .await
            .context("no answer in time")
            .and_then(|r| r)
            .and_then(|status| {
                if status == 200 {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{url} answered {status}"))
                }
            })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("not ready: {}", super::error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The status code of a plain-HTTP GET, without an HTTP client dependency.
async fn http_status(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(url).context("not a URL")?;
    anyhow::ensure!(url.scheme() == "http", "only http:// URLs are checked");
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        url.path()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = vec![0u8; 64];
    let n = stream.read(&mut head).await?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP answer")
}
