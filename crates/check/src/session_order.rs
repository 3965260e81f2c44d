//! `session-order`: a session's operations take effect in issue order, and its reads never go
//! back in time.
//!
//! ZooKeeper promises each session FIFO order: the server answers a session's requests in the
//! order the client sent them, and every reply header carries a zxid no older than any the
//! session has seen (a server holds a session's read until the session's earlier writes are
//! applied there, and refuses a reconnecting client that has seen a newer zxid than its own).
//! So, per client:
//! - a reply must answer the oldest request still outstanding on the wire;
//! - its zxid must not be below the highest reply zxid the session has seen, across
//!   reconnects to other servers as well. A read after an acknowledged write therefore sees at
//!   least that write's zxid.
//!
//! The check watches CLIENT_REPLY as it reaches the client, not what the client library makes
//! of it: a library that drops an out-of-order reply as a broken connection would otherwise
//! hide the server's mistake. Replies arriving over a connection the client no longer uses
//! are not looked at, as the client never reads them.
//!
//! Incremental: per client, the cxids in flight and the highest zxid seen.

use crate::clients::Clients;
use crate::{Checker, ClientEvent, Happening, HappeningKind, Interest, View, Violation};
use std::collections::BTreeMap;
use zab::{ClientId, Endpoint, Message, ServerId, Zxid};

#[derive(Default)]
struct Session {
    /// Requests submitted and not yet answered, by cxid.
    in_flight: BTreeMap<u64, &'static str>,
    /// The highest reply zxid seen: the zxid, the request it answered and the server.
    seen: Option<(Zxid, u64, &'static str, ServerId)>,
}

#[derive(Default)]
pub struct SessionOrder {
    clients: Clients,
    sessions: BTreeMap<ClientId, Session>,
    /// Path counts: replies the client reads checked for issue order, reply zxids compared
    /// with the session's newest, and those from another server than the newest came from
    /// (the session moved).
    replies: u64,
    zxids: u64,
    moved: u64,
}

impl Checker for SessionOrder {
    fn name(&self) -> &'static str {
        "session-order"
    }

    fn interest(&self) -> Interest {
        crate::clients::INTEREST.union(Interest::of(&[
            HappeningKind::Client,
            HappeningKind::Deliver(zab::MessageKind::ClientReply),
        ]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("reply checked for issue order", self.replies),
            ("reply zxid compared with the session's newest", self.zxids),
            ("reply zxid compared with another server's", self.moved),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        self.clients.follow(h, view.now_us());
        match h {
            Happening::Client { id, event } => match event {
                ClientEvent::Submitted { cxid, request, .. } => {
                    let s = self.sessions.entry(*id).or_default();
                    s.in_flight.insert(*cxid, request.name());
                }
                ClientEvent::Answered { cxid, .. } => {
                    if let Some(s) = self.sessions.get_mut(id) {
                        s.in_flight.remove(cxid);
                    }
                }
                ClientEvent::Expired { .. } | ClientEvent::Crashed => {
                    self.sessions.remove(id);
                }
                _ => {}
            },
            Happening::Deliver {
                from: Endpoint::Server(server),
                to: Endpoint::Client(client),
                msg: Message::ClientReply { cxid, zxid, .. },
            } => self.reply(*server, *client, *cxid, *zxid, view, out),
            _ => {}
        }
    }
}

impl SessionOrder {
    fn reply(
        &mut self,
        server: ServerId,
        client: ClientId,
        cxid: u64,
        zxid: Zxid,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let listening = self
            .clients
            .get(client)
            .is_some_and(|c| c.connected && c.server == Some(server));
        let Some(s) = self.sessions.get_mut(&client) else {
            return;
        };
        if !listening {
            return;
        }
        self.replies += 1;
        let name = s.in_flight.get(&cxid).copied().unwrap_or("request");
        if let Some((&first, first_name)) = s.in_flight.first_key_value() {
            if first < cxid {
                out.push(Violation {
                    invariant: "session-order",
                    at_us: view.now_us(),
                    server: Some(server),
                    message: format!(
                        "{server} answered {client}'s {name} (cxid {cxid}) before its earlier {first_name} (cxid {first}): a session's requests are answered in issue order"
                    ),
                });
            }
        }
        if zxid == Zxid::default() {
            return;
        }
        match s.seen {
            Some((seen, seen_cxid, seen_name, seen_server)) => {
                self.zxids += 1;
                if seen_server != server {
                    self.moved += 1;
                }
                if zxid >= seen {
                    s.seen = Some((zxid, cxid, name, server));
                    return;
                }
                out.push(Violation {
                    invariant: "session-order",
                    at_us: view.now_us(),
                    server: Some(server),
                    message: format!(
                        "{server} answered {client}'s {name} (cxid {cxid}) at zxid {zxid}, but the session had already seen zxid {seen} in {seen_server}'s reply to its {seen_name} (cxid {seen_cxid}): its view went back in time"
                    ),
                });
            }
            None => s.seen = Some((zxid, cxid, name, server)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_script::{create, get_data, read_ok, write_ok};
    use crate::script::Script;
    use zab::{ClientOp, CreateMode};

    fn a() -> ClientOp {
        create("/a", CreateMode::Persistent)
    }

    fn read() -> ClientOp {
        get_data("/a", false)
    }

    #[test]
    fn quiet_for_pipelined_requests_answered_in_order_across_a_reconnect() {
        crate::assert_fresh(&SessionOrder::default());
        let mut s = Script::serving(SessionOrder::default());
        s.connect(1, 2, 4000);
        let w = s.submit(1, a());
        let r = s.submit(1, read());
        let t = s.commit_request(1, w, &a());
        s.answer(1, w, t.zxid, Ok(write_ok(&a())));
        s.answer(1, r, t.zxid, Ok(read_ok(&read())));
        s.disconnect(1, &[]);
        s.connect(1, 3, 4000);
        s.client_read(1, read(), Ok(read_ok(&read())));
        // A late reply over the dropped connection is never read by the client.
        s.clients_reply_from(2, 1, r.cxid, Zxid::new(1, 1));
        assert!(s.take().is_empty());
        // The late reply is not read; the read on s3 is compared with what s2 showed.
        assert_eq!(
            s.c.paths(),
            [
                ("reply checked for issue order", 3),
                ("reply zxid compared with the session's newest", 2),
                ("reply zxid compared with another server's", 1),
            ]
        );
    }

    #[test]
    fn fires_when_a_read_is_answered_before_the_sessions_earlier_write() {
        // stale-read-own-write: s2 answers the read at once, before the write is applied.
        let mut s = Script::serving(SessionOrder::default());
        s.connect(1, 2, 4000);
        let w = s.submit(1, a());
        let r = s.submit(1, read());
        let before = s.v.servers[&ServerId(2)].tree.last_processed;
        s.reply(1, r, before, Ok(read_ok(&read())));
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert_eq!(
            out[0].message,
            format!(
                "s2 answered c1's getData (cxid {}) before its earlier create (cxid {}): a session's requests are answered in issue order",
                r.cxid, w.cxid
            )
        );
    }

    #[test]
    fn fires_when_a_read_after_a_reconnect_goes_back_in_time() {
        // c1's write commits on s1 and s2; s3 lags, yet lets c1 reconnect and answers a read.
        let mut s = Script::serving(SessionOrder::default());
        s.connect(1, 2, 4000);
        let w = s.submit(1, a());
        let op = s.txn_op(1, &a());
        let request = Some(zab::db::RequestId {
            client: zab::ClientId(1),
            cxid: w.cxid,
        });
        let t = s.propose_op(1, op, request, &[2, 3]);
        s.commit(1, &t, &[1, 2], &[2]);
        s.answer(1, w, t.zxid, Ok(write_ok(&a())));
        s.disconnect(1, &[]);
        s.connect(1, 3, 4000);
        let stale = s.client_read(1, read(), Ok(read_ok(&read())));
        assert!(stale < t.zxid);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0].message.starts_with(&format!(
                "s3 answered c1's getData (cxid 2) at zxid {stale}, but the session had already seen zxid {} in s2's reply to its create (cxid 1)",
                t.zxid
            )),
            "{}",
            out[0].message
        );
    }
}
