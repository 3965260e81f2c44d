//! What the ZooKeeper client library says about its connection, caught from its `tracing`
//! events on the client's own thread.
//!
//! `zookeeper-client` has no API that names the server a session is connected to, nor one
//! that reports a failed connection attempt; it does log both (`info!`/`warn!` in
//! `session/mod.rs` of 0.11.2: "succeeds to establish session to {endpoint}", "enter state
//! {state} due to {error}", "fails to establish session to {endpoint} due to {error}", "new
//! session established: {id} ...", "fail to connect to cluster ..."). Each client runs on a
//! thread of its own with a current-thread runtime, so a thread-local subscriber
//! ([`tracing::subscriber::set_default`]) sees exactly that client's events, at the moment the
//! session task handles them. The messages are matched by their fixed prefixes; the version of
//! the crate is pinned, so they do not change under us.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// What happened to a client's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEventKind {
    /// A session was established (new or resumed) with `server`.
    Connected,
    /// The server handed out a new session id (the text carries it and the negotiated timeout).
    NewSession,
    /// The connection broke; the text says why ("connection to server has lost", "no response
    /// from connection in Nms", an I/O error).
    Disconnected,
    /// One attempt to establish the session with `server` failed.
    AttemptFailed,
    /// The session expired: told by a server, or concluded by the client when it could not
    /// reach any server within 7/5 of the negotiated timeout.
    Expired,
    /// The client closed (or gave up: "fail to connect to cluster").
    Closed,
    /// Any other message at info level or above.
    Other,
}

/// One connection event of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// Milliseconds since the run's `t0`.
    pub time_ms: f64,
    /// What it was.
    pub kind: SessionEventKind,
    /// The server it concerns, when the message names one of the connect string's addresses.
    pub server: Option<u64>,
    /// The library's message, verbatim.
    pub text: String,
}

/// The events so far and the server the session is connected to now.
#[derive(Debug)]
pub(super) struct Log {
    t0: Instant,
    /// `(id, "host:port")` for every server in the connect string.
    servers: Vec<(u64, String)>,
    pub events: Vec<SessionEvent>,
    /// The server of the live connection, if there is one.
    pub current: Option<u64>,
    /// The server of the last established connection, live or not.
    pub last_connected: Option<u64>,
}

pub(super) type SharedLog = Arc<Mutex<Log>>;

pub(super) fn lock(log: &SharedLog) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

impl Log {
    pub fn new(t0: Instant, servers: Vec<(u64, String)>) -> SharedLog {
        Arc::new(Mutex::new(Log {
            t0,
            servers,
            events: Vec::new(),
            current: None,
            last_connected: None,
        }))
    }

    /// The server whose address ends `text` (endpoints print as `tcp://host:port`).
    fn server_in(&self, text: &str) -> Option<u64> {
        self.servers
            .iter()
            .find(|(_, addr)| {
                let needle = format!("://{addr}");
                text.match_indices(needle.as_str()).any(|(i, _)| {
                    let after = &text[i + needle.len()..];
                    !after.starts_with(|c: char| c.is_ascii_digit())
                })
            })
            .map(|(id, _)| *id)
    }

    /// Classifies one message and records it.
    pub fn note(&mut self, text: String) {
        let time_ms = self.t0.elapsed().as_secs_f64() * 1000.0;
        let (kind, server) =
            if let Some(rest) = text.strip_prefix("succeeds to establish session to ") {
                let server = self.server_in(rest);
                self.current = server;
                self.last_connected = server;
                (SessionEventKind::Connected, server)
            } else if let Some(rest) = text.strip_prefix("fails to establish session to ") {
                (SessionEventKind::AttemptFailed, self.server_in(rest))
            } else if text.starts_with("new session established") {
                (SessionEventKind::NewSession, self.current)
            } else if let Some(rest) = text.strip_prefix("enter state ") {
                let server = self.current.take();
                let kind = if rest.starts_with("Expired") {
                    SessionEventKind::Expired
                } else if rest.starts_with("Closed") || rest.starts_with("AuthFailed") {
                    SessionEventKind::Closed
                } else {
                    SessionEventKind::Disconnected
                };
                (kind, server)
            } else if text.starts_with("fail to connect to cluster") {
                self.current = None;
                (SessionEventKind::Closed, None)
            } else {
                (SessionEventKind::Other, None)
            };
        self.events.push(SessionEvent {
            time_ms,
            kind,
            server,
            text,
        });
    }
}

/// A subscriber that keeps `zookeeper_client`'s messages at info level and above.
pub(super) struct Capture {
    log: SharedLog,
    next_span: AtomicU64,
}

impl Capture {
    pub fn new(log: SharedLog) -> Capture {
        Capture {
            log,
            next_span: AtomicU64::new(1),
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("zookeeper_client") && *metadata.level() <= Level::INFO
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        lock(&self.log).note(message.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_library_messages() {
        let log = Log::new(
            Instant::now(),
            vec![(1, "127.0.0.1:10010".into()), (2, "127.0.0.2:10020".into())],
        );
        let mut l = lock(&log);
        l.note("succeeds to establish session to tcp://127.0.0.2:10020".into());
        assert_eq!(l.current, Some(2));
        l.note("new session established: 0x200 readonly=false, timeout=2000ms".into());
        l.note("enter state Disconnected due to connection to server has lost".into());
        assert_eq!(l.current, None);
        l.note("fails to establish session to tcp://127.0.0.1:10010 due to timeout".into());
        l.note("enter state Expired due to session expired".into());
        let kinds: Vec<_> = l.events.iter().map(|e| (e.kind, e.server)).collect();
        assert_eq!(
            kinds,
            [
                (SessionEventKind::Connected, Some(2)),
                (SessionEventKind::NewSession, Some(2)),
                (SessionEventKind::Disconnected, Some(2)),
                (SessionEventKind::AttemptFailed, Some(1)),
                (SessionEventKind::Expired, None),
            ]
        );
    }

    #[test]
    fn an_address_does_not_match_a_longer_port() {
        let log = Log::new(Instant::now(), vec![(1, "127.0.0.1:1001".into())]);
        assert_eq!(lock(&log).server_in("tcp://127.0.0.1:10010"), None);
        assert_eq!(lock(&log).server_in("tcp://127.0.0.1:1001"), Some(1));
    }
}
