//! Watch streams: resume from a resourceVersion out of the bounded history (an in-stream 410 `ERROR` event
//! when it is gone, as the real server sends), synthetic ADDED events for `resourceVersion` unset/0 and for
//! `sendInitialEvents`, BOOKMARKs, `timeoutSeconds`, selector transitions (an object leaving the selector is
//! DELETED for that watcher), Table-formatted events for kubectl, and fault-injected cuts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use futures::channel::mpsc;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::faults::Faults;
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::server::resource::{Request, present};
use super::server::{partial_metadata, wants_metadata, wants_table};
use super::store::{Event, EventType};
use super::table;

type Chunk = Result<Bytes, std::io::Error>;

struct Filter {
    key: String,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.ns.as_deref().is_none_or(|ns| obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            && self.labels.matches(obj)
            && self.fields.matches(obj)
    }

    /// The event type this watcher sees, if any (selector transitions become ADDED/DELETED).
    fn view(&self, ev: &Event) -> Option<EventType> {
        if ev.key != self.key {
            return None;
        }
        let now = self.matches(&ev.obj);
        let before = ev.old.as_deref().is_some_and(|o| self.matches(o));
        match ev.kind {
            EventType::Added if now => Some(EventType::Added),
            EventType::Deleted if before || now => Some(EventType::Deleted),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
            _ => None,
        }
    }
}

struct Encoder {
    rt: Arc<ResourceType>,
    table: bool,
    metadata_only: bool,
    include: String,
    columns_sent: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, obj: &Value) -> Bytes {
        let object = if self.table && kind != "BOOKMARK" && kind != "ERROR" {
            let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default().to_string();
            let t = table::table(&self.rt, &[obj], &rv, &self.include, !self.columns_sent);
            self.columns_sent = true;
            t
        } else if kind == "ERROR" || kind == "BOOKMARK" {
            obj.clone()
        } else if self.metadata_only {
            partial_metadata(obj)
        } else {
            present(&self.rt, obj)
        };
        let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        v.push(b'\n');
        Bytes::from(v)
    }

    fn bookmark(&mut self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta});
        self.line("BOOKMARK", &obj)
    }
}

/// Serve a watch request.
pub async fn serve(req: &Request) -> Response {
    match start(req) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn start(req: &Request) -> Result<Response, ApiError> {
    let (labels, fields) = req.selectors()?;
    let filter = Filter { key: req.rt.storage_key(), ns: req.target.namespace.clone(), labels, fields };
    let q = |k: &str| req.query.get(k).map(String::as_str);
    let bookmarks = q("allowWatchBookmarks") == Some("true");
    let send_initial = q("sendInitialEvents") == Some("true");
    let timeout = q("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).map(Duration::from_secs);
    let rv_param = q("resourceVersion").unwrap_or("");
    let mut enc = Encoder {
        rt: req.rt.clone(),
        table: wants_table(&req.headers),
        metadata_only: wants_metadata(&req.headers),
        include: q("includeObject").unwrap_or("Metadata").to_string(),
        columns_sent: false,
    };
    let mut prelude: Vec<Bytes> = Vec::new();
    let (past, rx, mut last_rv) = {
        let store = req.state.store.lock();
        let initial = send_initial || rv_param.is_empty() || rv_param == "0";
        if initial {
            let current = store.resource_version();
            let objs = store.list(&req.rt, filter.ns.as_deref(), &filter.labels, &filter.fields);
            for o in &objs {
                prelude.push(enc.line("ADDED", o));
            }
            if send_initial {
                prelude.push(enc.bookmark(current, true));
            }
            let (past, rx) = store.watch_from(current)?;
            (past, rx, current)
        } else {
            let from: u64 =
                rv_param.parse().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv_param:?}")))?;
            match store.watch_from(from) {
                Ok((past, rx)) => (past, rx, from),
                Err(gone) => {
                    // The real server opens the stream and sends the 410 as an ERROR event.
                    let line = enc.line("ERROR", &gone.to_status());
                    return Ok(stream_response(futures::stream::iter(vec![Ok::<_, std::io::Error>(line)])));
                }
            }
        }
    };
    let cut = req.state.faults.watch_cut();
    let faults = req.state.faults.clone();
    let bookmark_interval = req.state.bookmark_interval;
    let (mut tx, body_rx) = mpsc::channel::<Chunk>(256);
    tokio::spawn(async move {
        let mut rx = rx;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let (cut_events, cut_age) = cut.unwrap_or((None, None));
        let cut_at = cut_age.map(|a| tokio::time::Instant::now() + a);
        let mut sent_events: u64 = 0;
        for b in prelude {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let mut ticker = tokio::time::interval(bookmark_interval);
        ticker.tick().await;
        let mut pending = past.into_iter();
        loop {
            let ev = if let Some(e) = pending.next() {
                e
            } else {
                let sleep_until = |d: Option<tokio::time::Instant>| async move {
                    match d {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = rx.recv() => match r {
                        Ok(e) => e,
                        // Too slow to keep up: end the stream; the client resumes from its last version.
                        Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                    },
                    _ = ticker.tick(), if bookmarks => {
                        if tx.send(Ok(enc.bookmark(last_rv, false))).await.is_err() { return; }
                        continue;
                    }
                    _ = sleep_until(deadline) => return,
                    _ = sleep_until(cut_at) => {
                        cut_connection(tx, &faults).await;
                        return;
                    }
                }
            };
            if ev.rv <= last_rv {
                continue;
            }
            last_rv = ev.rv;
            let Some(kind) = filter.view(&ev) else { continue };
            if tx.send(Ok(enc.line(kind.as_str(), &ev.obj))).await.is_err() {
                return;
            }
            sent_events += 1;
            if cut_events.is_some_and(|n| sent_events >= n) {
                cut_connection(tx, &faults).await;
                return;
            }
        }
    });
    Ok(stream_response(body_rx))
}

/// Abort the connection mid-stream (no terminating chunk), as a network cut or an API server restart
/// does. hyper drops data it has not written yet when a body fails, so give it a moment to flush the
/// events already sent: the cut then loses nothing that was sent, like a cut between two events.
async fn cut_connection(mut tx: mpsc::Sender<Chunk>, faults: &Faults) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    faults.record_watch_cut();
    let _ = tx.send(Err(std::io::Error::other("watch cut by fault injection"))).await;
}

fn stream_response<S>(s: S) -> Response
where
    S: futures::Stream<Item = Chunk> + Send + 'static,
{
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(s))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
