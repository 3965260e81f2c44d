//! Sessions on the server side: the leader's `SessionTrackerImpl` with its `ExpiryQueue`,
//! the session ids a server hands out, and the timeout negotiation every server does.
//!
//! Expiry is the leader's decision alone. Learners only report which sessions their clients
//! touched, in their answers to the leader's PINGs (`LearnerSessionTracker`); a session whose
//! client is cut off from every server therefore expires at the leader, which proposes a
//! closeSession txn like any other write.

use crate::client_api::SessionId;
use crate::ids::ServerId;
use std::collections::BTreeMap;

/// `ZooKeeperServer.minSessionTimeout` and `maxSessionTimeout` defaults, in ticks.
const MIN_TIMEOUT_TICKS: u64 = 2;
const MAX_TIMEOUT_TICKS: u64 = 20;

/// The timeout a server grants a client that asks for `requested_ms`.
pub(crate) fn negotiate_timeout(requested_ms: u32, tick_us: u64) -> u32 {
    let tick_ms = tick_us / 1000;
    let min = tick_ms * MIN_TIMEOUT_TICKS;
    let max = tick_ms * MAX_TIMEOUT_TICKS;
    u64::from(requested_ms).clamp(min, max.max(min)) as u32
}

/// `SessionTrackerImpl.initializeNextSessionId`: the server's id in the top byte and the boot
/// time below it, so that neither two servers nor two incarnations of one hand out the same id.
/// Each new session takes the next number.
pub(crate) fn first_session_id(server: ServerId, now_us: u64) -> u64 {
    let now_ms = now_us / 1000;
    ((now_ms << 24) >> 8) | (u64::from(server.0) << 56)
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Tracked {
    timeout_ms: u32,
    /// The tick boundary at which the session expires unless touched.
    expires_us: u64,
    /// `isClosing`: a closeSession is proposed; the session takes no more requests.
    closing: bool,
    /// The server whose connection the session's requests must come from (`owner`); none
    /// until a request claims it (a new leader's tracker starts without owners).
    owner: Option<ServerId>,
}

/// The leader's session tracker.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionTracker {
    sessions: BTreeMap<SessionId, Tracked>,
}

/// `ExpiryQueue.roundToNextInterval`: expiry happens on tick boundaries, so that one timer per
/// tick serves every session.
fn round_to_next_tick(t: u64, tick_us: u64) -> u64 {
    (t / tick_us + 1) * tick_us
}

impl SessionTracker {
    /// `addSession` / `trackSession`: a session the leader learned of, with a full timeout.
    pub(crate) fn add(&mut self, session: SessionId, timeout_ms: u32, now: u64, tick_us: u64) {
        let expires_us = round_to_next_tick(now + u64::from(timeout_ms) * 1000, tick_us);
        self.sessions.insert(
            session,
            Tracked {
                timeout_ms,
                expires_us,
                closing: false,
                owner: None,
            },
        );
    }

    /// `setOwner` (SessionTrackerImpl.java:327-333): at createSession, and when a client
    /// reconnects (revalidation) through another server.
    pub(crate) fn set_owner(&mut self, session: SessionId, owner: ServerId) {
        if let Some(t) = self.sessions.get_mut(&session) {
            t.owner = Some(owner);
        }
    }

    /// The owner half of `checkSession` (SessionTrackerImpl.java:308-325, the same at both
    /// tags): the first server to ask claims an unowned session; another one is told the
    /// session moved.
    pub(crate) fn owned_by(&mut self, session: SessionId, via: ServerId) -> bool {
        match self.sessions.get_mut(&session) {
            Some(t) => *t.owner.get_or_insert(via) == via,
            None => true,
        }
    }

    /// `touchSession`: pushes the expiry back by the session's timeout. False for a session
    /// that is unknown or closing: it cannot be revived.
    pub(crate) fn touch(&mut self, session: SessionId, now: u64, tick_us: u64) -> bool {
        match self.sessions.get_mut(&session) {
            Some(t) if !t.closing => {
                let e = round_to_next_tick(now + u64::from(t.timeout_ms) * 1000, tick_us);
                t.expires_us = t.expires_us.max(e);
                true
            }
            _ => false,
        }
    }

    /// `checkSession`: the session exists and is not closing.
    pub(crate) fn is_active(&self, session: SessionId) -> bool {
        self.sessions.get(&session).is_some_and(|t| !t.closing)
    }

    pub(crate) fn set_closing(&mut self, session: SessionId) {
        if let Some(t) = self.sessions.get_mut(&session) {
            t.closing = true;
        }
    }

    /// The closeSession txn is applied: the session is gone.
    pub(crate) fn remove(&mut self, session: SessionId) {
        self.sessions.remove(&session);
    }

    /// Sessions due at `now` and not yet closing; they are marked closing as they are
    /// returned, as `SessionTrackerImpl.run` does before it calls `expire`.
    pub(crate) fn expire_due(&mut self, now: u64) -> Vec<SessionId> {
        let mut due = Vec::new();
        for (s, t) in self.sessions.iter_mut() {
            if !t.closing && t.expires_us <= now {
                t.closing = true;
                due.push(*s);
            }
        }
        due
    }

    #[cfg(test)]
    pub(crate) fn expires_at(&self, session: SessionId) -> Option<u64> {
        self.sessions.get(&session).map(|t| t.expires_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: u64 = 100_000;

    #[test]
    fn timeouts_are_clamped_to_two_and_twenty_ticks() {
        assert_eq!(negotiate_timeout(50, TICK), 200);
        assert_eq!(negotiate_timeout(4000, TICK), 2000);
        assert_eq!(negotiate_timeout(1500, TICK), 1500);
    }

    #[test]
    fn session_ids_carry_the_server_and_the_time() {
        let a = first_session_id(ServerId(3), 5_000);
        assert_eq!(a >> 56, 3);
        assert_eq!((a >> 16) & 0xff_ffff_ffff, 5);
        assert_ne!(a, first_session_id(ServerId(3), 6_000));
        assert_ne!(a, first_session_id(ServerId(2), 5_000));
    }

    #[test]
    fn expiry_is_on_the_tick_after_the_timeout() {
        let mut t = SessionTracker::default();
        let s = SessionId(7);
        t.add(s, 1000, 30_000, TICK);
        assert_eq!(t.expires_at(s), Some(1_100_000));
        assert!(t.expire_due(1_000_000).is_empty());
        assert!(t.touch(s, 250_000, TICK));
        assert_eq!(t.expires_at(s), Some(1_300_000));
        assert!(t.expire_due(1_200_000).is_empty());
        assert_eq!(t.expire_due(1_300_000), vec![s]);
        assert!(!t.is_active(s), "closing once expired");
        assert!(
            !t.touch(s, 1_300_000, TICK),
            "a closing session stays closing"
        );
        assert!(t.expire_due(1_400_000).is_empty(), "expired once");
        t.remove(s);
        assert!(!t.touch(s, 1_400_000, TICK));
    }

    // ---- whole servers, driven through `step` ----

    use crate::client_api::{ClientOp, CreateMode, SessionId as Sid};
    use crate::db::TxnOp;
    use crate::ids::{ClientId, Zxid};
    use crate::io::Event;
    use crate::message::Message;
    use crate::testkit::{call, connect, create, ok, Cluster};

    const C1: ClientId = ClientId(1);

    fn expired_by_tracker(c: &Cluster, session: Sid) -> bool {
        c.events.iter().any(|(_, e)| {
            matches!(e, Event::Proposed { op: TxnOp::CloseSession { session: s }, request: None, .. }
                if *s == session)
        })
    }

    fn resume(c: &mut Cluster, server: ServerId, session: Sid) -> Vec<Message> {
        let msg = Message::Connect {
            session,
            last_zxid_seen: Zxid::default(),
            timeout_ms: 4000,
        };
        c.send(C1, server, msg);
        c.take(C1)
    }

    #[test]
    fn a_silent_session_expires_with_its_ephemerals() {
        let mut c = Cluster::new(1, &[]);
        let s1 = ServerId(1);
        let s = connect(&mut c, C1, s1);
        ok(&mut c, C1, s1, 1, create("/e", CreateMode::Ephemeral));
        c.run_for(1_500_000);
        assert!(c.server(s1).tree().has_session(s), "within its 2 s timeout");
        c.run_for(1_000_000);
        let tree = c.server(s1).tree();
        assert!(!tree.has_session(s) && !tree.exists("/e"));
        assert!(expired_by_tracker(&c, s));
        assert!(c.closed.contains(&(s1, C1)), "its connection is closed");
        // Coming back, the client learns that its session is gone.
        assert_eq!(
            resume(&mut c, s1, s),
            vec![Message::ConnectResponse {
                session: s,
                timeout_ms: 0
            }]
        );
        assert_eq!(c.closed.last(), Some(&(s1, C1)));
    }

    #[test]
    fn client_pings_keep_a_session_alive() {
        let mut c = Cluster::new(1, &[]);
        let s1 = ServerId(1);
        let s = connect(&mut c, C1, s1);
        for _ in 0..10 {
            c.run_for(600_000);
            c.send(C1, s1, Message::ClientPing);
            assert_eq!(c.take(C1), vec![Message::ClientPing]);
        }
        assert!(c.server(s1).tree().has_session(s));
        assert!(!expired_by_tracker(&c, s));
    }

    #[test]
    fn a_learners_ping_answers_keep_its_clients_sessions_alive() {
        let mut c = Cluster::new(3, &[]);
        let (leader, f) = (c.leader(), c.follower());
        let s = connect(&mut c, C1, f);
        ok(&mut c, C1, f, 1, create("/e", CreateMode::Ephemeral));
        for _ in 0..10 {
            c.run_for(600_000);
            c.send(C1, f, Message::ClientPing);
            assert_eq!(c.take(C1), vec![Message::ClientPing]);
        }
        assert!(
            c.server(leader).tree().has_session(s),
            "the leader heard of the client only through its follower"
        );
        c.run_for(2_500_000);
        for server in c.servers.values() {
            assert!(!server.tree().has_session(s), "{}", server.id());
            assert!(!server.tree().exists("/e"), "{}", server.id());
        }
        assert!(expired_by_tracker(&c, s));
    }

    #[test]
    fn a_resumed_session_is_revalidated_by_the_leader() {
        let mut c = Cluster::new(3, &[]);
        let leader = c.leader();
        let mut followers = c.servers.keys().copied().filter(|s| *s != leader);
        let (a, b) = (followers.next().unwrap(), followers.next().unwrap());
        let s = connect(&mut c, C1, a);
        let written = ok(&mut c, C1, a, 1, create("/x", CreateMode::Persistent));
        // The client moves to the other follower, which asks the leader about the session.
        assert_eq!(
            resume(&mut c, b, s),
            vec![Message::ConnectResponse {
                session: s,
                timeout_ms: 2000
            }]
        );
        let sync = ClientOp::Sync { path: "/".into() };
        let (z, r) = call(&mut c, C1, b, 2, sync);
        assert_eq!(r, Ok(crate::client_api::Reply::Synced));
        assert!(
            z >= written,
            "a sync answers with everything before it applied"
        );
        c.run_for(2_500_000);
        assert_eq!(
            resume(&mut c, a, s),
            vec![Message::ConnectResponse {
                session: s,
                timeout_ms: 0
            }],
            "expired while the client was silent"
        );
    }

    #[test]
    fn a_new_leader_gives_every_session_a_full_timeout() {
        let mut c = Cluster::new(3, &[]);
        let old = c.leader();
        let f = c.follower();
        let s = connect(&mut c, C1, f);
        c.run_for(1_500_000);
        c.isolate(old);
        let mut waited = 0;
        let new = loop {
            c.run_for(100_000);
            waited += 100_000;
            assert!(waited < 5_000_000, "no new leader");
            if let Some(l) = c
                .servers
                .values()
                .find(|x| x.id() != old && x.is_established_leader())
            {
                break l.id();
            }
        };
        assert!(
            c.closed.contains(&(f, C1)),
            "the follower dropped its clients when it left its role"
        );
        // By now the session has been silent for longer than its timeout, yet the new leader
        // counts from its own start.
        assert!(waited + 1_500_000 > 2_000_000, "{waited}");
        c.run_for(1_500_000);
        assert!(c.server(new).tree().has_session(s));
        c.run_for(1_000_000);
        assert!(!c.server(new).tree().has_session(s));
    }
}
