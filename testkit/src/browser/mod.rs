//! A real browser for tests: Debian's Chromium, headless, driven over the Chrome DevTools
//! Protocol (one WebSocket, flattened sessions). Enough of the protocol to use a page as a
//! person does: navigate, click and type with real input events, pick a file, accept
//! dialogs, wait for the page to show something, read it, download, and take screenshots.
//!
//! Every exception a page throws and every console error (a Content-Security-Policy
//! violation is one) is kept: [`Page::errors`] lets a test assert there were none.

//!
//! # Layout
//! - this file: [`Browser`] (the process, its profile and downloads) and the connection;
//! - `page`: [`Page`], one tab and what a person does in it.

mod page;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

pub use page::Page;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// An event the browser sent: its session (none for the browser's own), method and params.
type Event = (Option<String>, String, Value);

/// A headless Chromium process, stopped (and its profile deleted) on drop.
pub struct Browser {
    child: tokio::process::Child,
    profile: PathBuf,
    /// Where every tab's downloads go (the browser has one download setting for all).
    downloads: PathBuf,
    conn: Connection,
}

/// The WebSocket to the browser: commands go out with an id, their answers come back to the
/// waiter of that id; events are kept per session.
#[derive(Clone)]
struct Connection {
    out: mpsc::UnboundedSender<String>,
    waiters: Waiters,
    next: Arc<AtomicU64>,
    pub(crate) events: Arc<Mutex<Vec<Event>>>,
}

impl Connection {
    async fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters").insert(id, tx);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        self.out
            .send(message.to_string())
            .map_err(|_| "the browser is gone".to_owned())?;
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the browser is gone".into()),
            Err(_) => Err(format!("{method}: no answer in 60 s")),
        }
    }
}

/// The browser's command: Debian's package (`.ci/run` installs it).
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is needed for this test: apt-get install chromium (.ci/run does)")
}

impl Browser {
    /// Starts a headless Chromium with a profile of its own and connects to it.
    pub async fn launch() -> Self {
        let profile =
            std::env::temp_dir().join(format!("concierge-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let child = tokio::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        // Chromium writes its port and the browser's WebSocket path here once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let endpoint = crate::eventually(
            Duration::from_secs(30),
            "Chromium did not open its DevTools port",
            async || {
                let text = std::fs::read_to_string(&port_file).ok()?;
                let mut lines = text.lines();
                let port = lines.next()?.trim().to_owned();
                let path = lines.next()?.trim().to_owned();
                Some(format!("ws://127.0.0.1:{port}{path}"))
            },
        )
        .await;
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connect to Chromium");
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
        let conn = Connection {
            out,
            waiters: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            events: Arc::default(),
        };
        tokio::spawn(async move {
            while let Some(text) = outgoing.recv().await {
                if sink.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
        });
        let reader = conn.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = value["id"].as_u64() {
                    let answer = match value.get("error") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(value["result"].clone()),
                    };
                    if let Some(waiter) = reader.waiters.lock().expect("waiters").remove(&id) {
                        let _ = waiter.send(answer);
                    }
                    continue;
                }
                let session = value["sessionId"].as_str().map(str::to_owned);
                let method = value["method"].as_str().unwrap_or_default().to_owned();
                // A confirm() or alert() would stop the page: accept it, as the person
                // driving the page would.
                if method == "Page.javascriptDialogOpening" {
                    let mut accept = json!({ "id": reader.next.fetch_add(1, Ordering::Relaxed),
                        "method": "Page.handleJavaScriptDialog", "params": { "accept": true } });
                    if let Some(s) = &session {
                        accept["sessionId"] = json!(s);
                    }
                    let _ = reader.out.send(accept.to_string());
                }
                reader.events.lock().expect("events").push((
                    session,
                    method,
                    value["params"].clone(),
                ));
            }
        });
        let downloads = profile.join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        conn.send(
            None,
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": downloads, "eventsEnabled": true }),
        )
        .await
        .expect("allow downloads");
        Self {
            child,
            profile,
            downloads,
            conn,
        }
    }

    /// A new tab, at `about:blank`, `width` × `height` CSS pixels (`mobile`: a phone's
    /// viewport, touch and all). Downloads of every tab go to one directory: start one at a
    /// time.
    pub async fn page(&self, width: u32, height: u32, mobile: bool) -> Page {
        let target = self
            .conn
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await
            .expect("create a tab");
        let attached = self
            .conn
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await
            .expect("attach to the tab");
        let page = Page {
            conn: self.conn.clone(),
            session: attached["sessionId"]
                .as_str()
                .expect("session id")
                .to_owned(),
            downloads: self.downloads.clone(),
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable", "DOM.enable"] {
            page.call(domain, json!({})).await;
        }
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await;
        if mobile {
            page.call(
                "Emulation.setTouchEmulationEnabled",
                json!({ "enabled": true }),
            )
            .await;
        }
        page
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("profile", &self.profile)
            .finish()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
