//! A real browser for tests: Debian's Chromium, headless, driven over the Chrome DevTools
//! Protocol (one WebSocket, flattened sessions). Enough of the protocol to use a page as a
//! person does: navigate, click and type with real input events, pick a file, accept
//! dialogs, wait for the page to show something, read it, download, and take screenshots.
//!
//! Every exception a page throws and every console error (a Content-Security-Policy
//! violation is one) is kept: [`Page::errors`] lets a test assert there were none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// An event the browser sent: its session (none for the browser's own), method and params.
type Event = (Option<String>, String, Value);

/// A headless Chromium process, stopped (and its profile deleted) on drop.
pub struct Browser {
    child: tokio::process::Child,
    profile: PathBuf,
    conn: Connection,
}

/// The WebSocket to the browser: commands go out with an id, their answers come back to the
/// waiter of that id; events are kept per session.
#[derive(Clone)]
struct Connection {
    out: mpsc::UnboundedSender<String>,
    waiters: Waiters,
    next: Arc<AtomicU64>,
    events: Arc<Mutex<Vec<Event>>>,
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

/// Where Debian's package puts the browser (`.ci/run` installs it).
fn chromium() -> &'static str {
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
        Self {
            child,
            profile,
            conn,
        }
    }

    /// A new tab, at `about:blank`, `width` × `height` CSS pixels (`mobile`: a phone's
    /// viewport, touch and all).
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
            downloads: self
                .profile
                .join(format!("downloads-{}", uuid::Uuid::new_v4())),
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
        std::fs::create_dir_all(&page.downloads).expect("downloads dir");
        page.call(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": page.downloads, "eventsEnabled": true }),
        )
        .await;
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

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("session", &self.session)
            .finish()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One tab.
pub struct Page {
    conn: Connection,
    session: String,
    downloads: PathBuf,
}

impl Page {
    /// A command to this tab; panics with the browser's words when it is refused.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.conn
            .send(Some(&self.session), method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Opens `url` and waits for its load event (none comes when only the fragment changes:
    /// the page stays, as a link within it would leave it).
    pub async fn goto(&self, url: &str) {
        let seen = self.event_count("Page.loadEventFired");
        let answer = self.call("Page.navigate", json!({ "url": url })).await;
        assert!(answer.get("errorText").is_none(), "opening {url}: {answer}");
        if answer.get("loaderId").is_some() {
            self.wait_event("Page.loadEventFired", seen).await;
        }
    }

    /// The value of a JavaScript expression (awaited when it is a promise).
    pub async fn eval(&self, expression: &str) -> Value {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(e) = answer.get("exceptionDetails") {
            panic!("`{expression}` threw: {e}");
        }
        answer["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy (up to 30 s) and returns its value; on time-out,
    /// panics with `what` and the page's text.
    pub async fn wait_for(&self, what: &str, expression: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.eval(expression).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!("waited 30 s for {what} (`{expression}`); the page shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `selector` whose text contains `text`.
    pub async fn wait_text(&self, selector: &str, text: &str) {
        let expression = format!(
            "[...document.querySelectorAll({})].some((e) => e.textContent.includes({}))",
            json!(selector),
            json!(text)
        );
        self.wait_for(&format!("{selector} to show {text:?}"), &expression)
            .await;
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.eval("document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks the middle of the element matching `selector` with the mouse, as a person
    /// would (it must be visible and on top), after scrolling it into view.
    pub async fn click(&self, selector: &str) {
        let rect = self
            .wait_for(
                &format!("{selector} to be visible"),
                &format!(
                    "(() => {{ const e = document.querySelector({}); if (!e) return null;
                       e.scrollIntoView({{ block: 'center' }}); const r = e.getBoundingClientRect();
                       return r.width && r.height ? [r.x + r.width / 2, r.y + r.height / 2] : null; }})()",
                    json!(selector)
                ),
            )
            .await;
        let (x, y) = (rect[0].clone(), rect[1].clone());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }

    /// Focuses the element matching `selector`, clears it, and types `text` into it.
    pub async fn fill(&self, selector: &str, text: &str) {
        self.wait_for(
            &format!("{selector} to exist"),
            &format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false;
                   e.focus(); if ('value' in e) e.value = ''; return true; }})()",
                json!(selector)
            ),
        )
        .await;
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// Presses a key (`Enter`, `Tab`, `Escape`, `ArrowDown`, a letter…) on the focused
    /// element.
    pub async fn press(&self, key: &str) {
        let (code, text, vk) = match key {
            "Enter" => ("Enter", "\r", 13),
            "Tab" => ("Tab", "", 9),
            "Escape" => ("Escape", "", 27),
            " " => ("Space", " ", 32),
            "ArrowDown" => ("ArrowDown", "", 40),
            "ArrowUp" => ("ArrowUp", "", 38),
            other => (other, other, 0),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut params = json!({ "type": kind, "key": key, "code": code,
                "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk });
            if kind == "keyDown" && !text.is_empty() {
                params["text"] = json!(text);
            }
            self.call("Input.dispatchKeyEvent", params).await;
        }
    }

    /// Picks `file` in the file input matching `selector` (and fires its `change`).
    pub async fn pick_file(&self, selector: &str, file: &Path) {
        let document = self.call("DOM.getDocument", json!({ "depth": 0 })).await;
        let node = self
            .call(
                "DOM.querySelector",
                json!({ "nodeId": document["root"]["nodeId"], "selector": selector }),
            )
            .await;
        assert_ne!(node["nodeId"], json!(0), "no {selector} to pick a file in");
        self.call(
            "DOM.setFileInputFiles",
            json!({ "nodeId": node["nodeId"], "files": [file] }),
        )
        .await;
    }

    /// The one file a download that the page started saved, once complete.
    pub async fn downloaded(&self) -> PathBuf {
        crate::eventually(
            Duration::from_secs(30),
            "no finished download",
            async || {
                let files: Vec<PathBuf> = std::fs::read_dir(&self.downloads)
                    .ok()?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_none_or(|e| e != "crdownload"))
                    .collect();
                (files.len() == 1).then(|| files[0].clone())
            },
        )
        .await
    }

    /// A PNG of the whole page (`full`) or the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path, full: bool) {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": full }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Exceptions the page threw and errors it logged (CSP violations among them), but not
    /// the requests that were answered with an error status.
    pub fn errors(&self) -> Vec<String> {
        self.conn
            .events
            .lock()
            .expect("events")
            .iter()
            .filter(|(s, _, _)| s.as_deref() == Some(self.session.as_str()))
            .filter_map(|(_, method, params)| match method.as_str() {
                "Runtime.exceptionThrown" => Some(params["exceptionDetails"].to_string()),
                // A refused request is the browser's "Failed to load resource": an answer
                // the page handles (a wrong key's 401), not an error of the page.
                "Log.entryAdded"
                    if params["entry"]["level"] == "error"
                        && params["entry"]["source"] != "network" =>
                {
                    Some(params["entry"]["text"].to_string())
                }
                "Runtime.consoleAPICalled" if params["type"] == "error" => {
                    Some(params["args"].to_string())
                }
                _ => None,
            })
            .collect()
    }

    fn event_count(&self, method: &str) -> usize {
        self.conn
            .events
            .lock()
            .expect("events")
            .iter()
            .filter(|(s, m, _)| s.as_deref() == Some(self.session.as_str()) && m == method)
            .count()
    }

    async fn wait_event(&self, method: &str, seen: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.event_count(method) <= seen {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {method} in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
