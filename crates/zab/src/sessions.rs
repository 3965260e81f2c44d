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
            },
        );
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
}
