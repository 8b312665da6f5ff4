//! A TCP forwarder between the code under test and a real server, which a test can stop to
//! make that server unreachable (refused connections, severed sessions) without disturbing
//! the other tests that share the server.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct TcpProxy {
    /// Where the code under test connects.
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl TcpProxy {
    /// Starts forwarding a free local port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let stop = CancellationToken::new();
        let upstream = upstream.to_owned();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    () = token.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(_) => continue,
                    },
                };
                let upstream = upstream.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        TcpProxy { addr, stop }
    }

    /// Closes the port and severs every forwarded connection: from now on the server looks
    /// down (connections refused).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
