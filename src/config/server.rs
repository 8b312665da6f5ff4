//! The `server` section: where the HTTP API (and its job board) listen, how large a request
//! may be, and how long a stopping process waits for work in flight. The section also holds
//! seed 002's log keys, which [`super::logging`] reads.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;

/// The HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. `HOST`, `server.host`: an IP address, or a host name resolved at
    /// start (`localhost`, as seed 002's `.env` may say; its IPv4 address when it has one);
    /// default `0.0.0.0` (seed 002).
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one. `PORT`, `server.port`; default 8000 (seed 002).
    pub port: u16,
    /// Largest request body accepted; larger ones get 413. `MAX_BODY_BYTES`,
    /// `server.max_body_bytes`; default 10 MiB (enough for a 100k-row invitation CSV).
    pub max_body_bytes: usize,
    /// The port of the job board (apalis-board's UI and its `/api/v1`), served by the API
    /// process on `host`; it needs a port of its own. 0 turns it off. `BOARD_PORT`,
    /// `server.board_port`; default 8001.
    pub board_port: u16,
    /// On SIGTERM/SIGINT, how long in-flight requests (and, in workers, running jobs) may take
    /// to finish before the process exits. `SHUTDOWN_GRACE_SECONDS`,
    /// `server.shutdown_grace_seconds`; default 30.
    pub shutdown_grace: Duration,
}

/// The YAML section `server`, every key optional; each key is described on the
/// [`ServerConfig`] field it sets, or (seed 002's log keys) on `LoggingConfig`'s.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileServer {
    host: Option<String>,
    port: Option<u16>,
    pub(super) debug: Option<bool>,
    pub(super) log_level: Option<String>,
    pub(super) log_format: Option<String>,
    pub(super) login_log_file: Option<String>,
    max_body_bytes: Option<usize>,
    shutdown_grace_seconds: Option<u64>,
    board_port: Option<u16>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileServer) -> Result<ServerConfig, ConfigError> {
    let host = r.string_or("HOST", f.host, "0.0.0.0");
    let host = listen_address(&host).ok_or_else(|| {
        invalid(
            "HOST (server.host)",
            format!(
                "expected an IP address such as 0.0.0.0 or 127.0.0.1, or a host name this \
                 machine resolves such as localhost, got {host:?}"
            ),
        )
    })?;
    let port = r.parse("PORT", "server.port", f.port)?.unwrap_or(8000);
    let board_port = r
        .parse("BOARD_PORT", "server.board_port", f.board_port)?
        .unwrap_or(8001);
    let max_body_bytes = r
        .parse("MAX_BODY_BYTES", "server.max_body_bytes", f.max_body_bytes)?
        .unwrap_or(10 * 1024 * 1024);
    if max_body_bytes < 1024 {
        return Err(invalid(
            "MAX_BODY_BYTES (server.max_body_bytes)",
            "must be at least 1024",
        ));
    }
    let grace = r
        .parse(
            "SHUTDOWN_GRACE_SECONDS",
            "server.shutdown_grace_seconds",
            f.shutdown_grace_seconds,
        )?
        .unwrap_or(30);
    Ok(ServerConfig {
        host,
        port,
        max_body_bytes,
        board_port,
        shutdown_grace: Duration::from_secs(grace),
    })
}

impl ServerConfig {
    /// The API's HTTP settings.
    pub fn http(&self) -> api::HttpSettings {
        api::HttpSettings {
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// An IP address as written, or the address a host name resolves to on this machine (IPv4
/// first: `localhost` means 127.0.0.1 to most who write it).
fn listen_address(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    // Digits and dots alone are no name: the resolver would read `0` or `127.1` as old-style
    // numeric addresses (every interface, or loopback) behind the operator's back.
    let name = host.bytes().any(|b| b.is_ascii_alphabetic())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !name {
        return None;
    }
    let addresses: Vec<IpAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
        .ok()?
        .map(|a| a.ip())
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::listen_address;

    #[test]
    fn host_is_an_address_or_a_name_this_machine_resolves() {
        assert_eq!(listen_address("0.0.0.0"), Some([0, 0, 0, 0].into()));
        assert_eq!(
            listen_address("::1"),
            Some(std::net::Ipv6Addr::LOCALHOST.into())
        );
        assert_eq!(listen_address("localhost"), Some([127, 0, 0, 1].into()));
        // (No name that needs DNS: tests must not depend on the network.)
        for bad in ["", "not an ip", "a/b", "0", "127.1"] {
            assert_eq!(listen_address(bad), None, "{bad:?}");
        }
    }
}
