//! A TCP forwarder between the code under test and a real server, which a test can stop to
//! make that server unreachable (refused connections, severed sessions) without disturbing
//! the other tests that share the server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct TcpProxy {
    /// Where the code under test connects.
    pub addr: SocketAddr,
    /// Ends the proxy for good: the listener and every forwarded connection.
    stop: CancellationToken,
    /// Ends the current listener and the connections it forwarded ([`TcpProxy::pause`]).
    serving: Arc<Mutex<CancellationToken>>,
    upstream_addr: String,
    /// The local address of each connection made to the server, in order: what the server
    /// sees as its clients' addresses (e.g. in Redis's `CLIENT LIST`).
    upstream: Arc<Mutex<Vec<SocketAddr>>>,
}

impl TcpProxy {
    /// Starts forwarding a free local port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = TcpProxy {
            addr,
            stop: CancellationToken::new(),
            serving: Arc::default(),
            upstream_addr: upstream.to_owned(),
            upstream: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// Forwards what `listener` accepts until the proxy stops or pauses.
    fn serve(&self, listener: TcpListener) {
        let token = self.stop.child_token();
        if let Ok(mut serving) = self.serving.lock() {
            *serving = token.clone();
        }
        let upstream = self.upstream_addr.clone();
        let record = self.upstream.clone();
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
                let record = record.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if let (Ok(local), Ok(mut seen)) = (server.local_addr(), record.lock()) {
                        seen.push(local);
                    }
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
    }

    /// How many connections were forwarded so far.
    pub fn connections(&self) -> usize {
        self.upstream.lock().map(|s| s.len()).unwrap_or_default()
    }

    /// The server-side view of the forwarded connections: their local addresses.
    pub fn upstream_addresses(&self) -> Vec<SocketAddr> {
        self.upstream.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// An outage until [`TcpProxy::resume`]: closes the port (connections are refused, as by
    /// a server that is down) and severs every forwarded connection.
    pub fn pause(&self) {
        if let Ok(serving) = self.serving.lock() {
            serving.cancel();
        }
    }

    /// Ends a [`TcpProxy::pause`]: the same port is open and forwarding again.
    pub async fn resume(&self) {
        // The paused listener closes as its task sees the pause: give it a moment.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("the proxy's port {} is not free again: {e}", self.addr)
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
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

/// An HTTP reverse proxy that adds Basic credentials to every request, as a browser does once
/// its user answered the password prompt: lets headless Chromium use a site behind Basic
/// authentication (it cannot be given credentials otherwise). Responses stream through, but
/// an event stream ends after a second: headless Chromium's virtual time (which lets a test
/// wait for a page's scripts without sleeping) stands still while any request is open.
/// Stops when dropped.
#[derive(Debug)]
pub struct AuthProxy {
    /// `http://127.0.0.1:<port>`, to open instead of the upstream.
    pub url: String,
    _stop: crate::oauth::StopOnDrop,
}

impl AuthProxy {
    pub async fn start(upstream: &str, user: &str, password: &str) -> Self {
        use base64::Engine;
        let credentials = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let state = Arc::new((
            upstream.trim_end_matches('/').to_owned(),
            credentials,
            reqwest::Client::new(),
        ));
        let app = poem::EndpointExt::data(
            poem::Route::new().at("/", forward).at("/*path", forward),
            state,
        );
        let (addr, stop) = crate::oauth::serve(app, "auth proxy").await;
        Self {
            url: format!("http://{addr}"),
            _stop: stop,
        }
    }
}

type ProxyState = Arc<(String, String, reqwest::Client)>;

#[poem::handler]
async fn forward(
    req: &poem::Request,
    body: poem::Body,
    state: poem::web::Data<&ProxyState>,
) -> poem::Response {
    let (upstream, credentials, client) = &***state;
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut outgoing = client
        .request(req.method().clone(), format!("{upstream}{path}"))
        .header("authorization", credentials);
    for (name, value) in req.headers() {
        if !matches!(name.as_str(), "host" | "authorization" | "connection") {
            outgoing = outgoing.header(name, value);
        }
    }
    let body = body.into_bytes().await.unwrap_or_default();
    let resp = match outgoing.body(body).send().await {
        Ok(resp) => resp,
        Err(_) => {
            return poem::Response::builder()
                .status(poem::http::StatusCode::BAD_GATEWAY)
                .finish();
        }
    };
    let mut builder = poem::Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        if !matches!(
            name.as_str(),
            "connection" | "transfer-encoding" | "content-length"
        ) {
            builder = builder.header(name, value);
        }
    }
    use futures::{StreamExt, TryStreamExt};
    let event_stream = resp
        .headers()
        .get("content-type")
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    let body = resp.bytes_stream().map_err(std::io::Error::other);
    if event_stream {
        let cut = tokio::time::sleep(std::time::Duration::from_secs(1));
        builder.body(poem::Body::from_bytes_stream(body.take_until(cut)))
    } else {
        builder.body(poem::Body::from_bytes_stream(body))
    }
}
