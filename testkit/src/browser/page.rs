//! One tab of the [`Browser`](super::Browser): navigate, read, click, type, pick files,
//! download, screenshot, and the errors it reported.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::Connection;

/// One tab.
pub struct Page {
    pub(super) conn: Connection,
    /// The DevTools session attached to this tab.
    pub(super) session: String,
    pub(super) downloads: PathBuf,
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
        self.try_eval(expression)
            .await
            .unwrap_or_else(|e| panic!("`{expression}`: {e}"))
    }

    async fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let answer = self
            .conn
            .send(
                Some(&self.session),
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await?;
        match answer.get("exceptionDetails") {
            Some(e) => Err(format!("threw {e}")),
            None => Ok(answer["result"]["value"].clone()),
        }
    }

    /// Waits until `expression` is truthy (up to 30 s) and returns its value; on time-out,
    /// panics with `what` and the page's text. An evaluation that fails (the page is between
    /// two documents, as during a redirect) counts as "not yet".
    pub async fn wait_for(&self, what: &str, expression: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let last = self.try_eval(expression).await;
            if let Ok(value) = &last {
                let truthy = !matches!(value, Value::Null | Value::Bool(false))
                    && *value != json!(0)
                    && *value != json!("");
                if truthy {
                    return value.clone();
                }
            }
            if tokio::time::Instant::now() > deadline {
                let text = self
                    .try_eval("document.body ? document.body.innerText : ''")
                    .await
                    .unwrap_or_default();
                panic!(
                    "waited 30 s for {what} (`{expression}`, last {last:?}); the page shows:\n\
                     {text}\nand reported: {:#?}",
                    self.errors()
                );
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

    /// Types `text` into whatever has the focus, as a keyboard would.
    pub async fn type_text(&self, text: &str) {
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// The `id` of the focused element (empty when it has none).
    pub async fn focused(&self) -> String {
        self.eval("document.activeElement ? document.activeElement.id : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
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

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("session", &self.session)
            .finish()
    }
}
