//! `protocol-error`: a server reached a state ZooKeeper treats as impossible.
//!
//! ZooKeeper guards the protocol with checks that log an error, drop the connection or exit the
//! JVM when they fail: a COMMIT that does not match the oldest pending txn
//! (`UNMATCHED_TXN_COMMIT`), a TRUNC below a txn its snapshot holds, a NEWLEADER ack from
//! another epoch (`waitForNewLeaderAck`), a NEWLEADER whose epoch differs from LEADERINFO, and,
//! at startup, epoch files that contradict the log (`QuorumPeer.loadDataBase`, ZOOKEEPER-1653). The correct
//! protocol never trips them, so each one is evidence that an earlier step went wrong, reported
//! where it surfaces. Catches `zk-4685`: a proposal ACK overtakes the NEWLEADER ack, and the
//! leader reads it as a NEWLEADER ack "from a different epoch".
//!
//! Stateless apart from remembering what it reported: it reacts only to `ProtocolError` and
//! `StartupFailed` events.

use crate::{Checker, Happening, HappeningKind, Interest, View, Violation};
use std::collections::BTreeSet;
use zab::{Event, ServerId};

#[derive(Default)]
pub struct ProtocolError {
    /// (server, reason) pairs already reported: a server that fails the same way at every
    /// restart is one breach.
    reported: BTreeSet<(ServerId, String)>,
    /// Path counts: protocol errors and refusals to start seen (repeats included).
    errors: u64,
    startups: u64,
}

impl Checker for ProtocolError {
    fn name(&self) -> &'static str {
        "protocol-error"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            HappeningKind::Server(zab::EventKind::ProtocolError),
            HappeningKind::Server(zab::EventKind::StartupFailed),
        ])
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("protocol error hit by a server", self.errors),
            ("server refused to start", self.startups),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        let Happening::Server { id, event } = h else {
            return;
        };
        let (what, reason) = match event {
            Event::ProtocolError { reason } => {
                self.errors += 1;
                ("hit a protocol error", reason)
            }
            Event::StartupFailed { reason } => {
                self.startups += 1;
                ("refused to start", reason)
            }
            _ => return,
        };
        if !self.reported.insert((*id, reason.clone())) {
            return;
        }
        let context = match view.server(*id) {
            Some(s) => {
                let epoch = s
                    .role_epoch
                    .map(|e| format!("epoch {e}"))
                    .unwrap_or_else(|| format!("currentEpoch {}", s.current_epoch));
                format!(
                    "{} in {}, {epoch}, last zxid {}",
                    s.state.name(),
                    s.phase.name(),
                    s.last_zxid
                )
            }
            None => {
                let d = view.disk(*id);
                format!(
                    "disk: acceptedEpoch {}, currentEpoch {}, last logged zxid {}",
                    d.accepted_epoch,
                    d.current_epoch,
                    d.last_zxid()
                )
            }
        };
        out.push(Violation {
            invariant: "protocol-error",
            at_us: view.now_us(),
            server: Some(*id),
            message: format!(
                "{id} {what} ({context}): {reason}; the correct protocol never reaches this state"
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use zab::{ServerState, Txn, ZabPhase, Zxid};

    fn ev(c: &mut ProtocolError, v: &FakeView, id: u8, event: Event) -> Vec<Violation> {
        let mut out = Vec::new();
        c.on(
            &Happening::Server {
                id: ServerId(id),
                event: &event,
            },
            v,
            &mut out,
        );
        out
    }

    #[test]
    fn fires_when_the_leader_reads_a_proposal_ack_as_the_newleader_ack() {
        // zk-4685: s1 acks proposal 2:1 before NEWLEADER; leader s3 is in SYNCHRONIZATION.
        let mut v = FakeView::new(3);
        v.set_state(
            3,
            ServerState::Leading,
            ZabPhase::Synchronization,
            Some(3),
            false,
        );
        v.servers.get_mut(&ServerId(3)).unwrap().epoch = 2;
        let mut c = ProtocolError::default();
        let reason = "NEWLEADER ACK from s1 is from a different epoch: expected 2:0, received 2:1";
        let out = ev(
            &mut c,
            &v,
            3,
            Event::ProtocolError {
                reason: reason.into(),
            },
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "protocol-error");
        assert_eq!(out[0].server, Some(ServerId(3)));
        assert!(
            out[0]
                .message
                .contains("s3 hit a protocol error (LEADING in SYNCHRONIZATION, epoch 2")
                && out[0].message.contains(reason),
            "{}",
            out[0].message
        );
        // The same error again is the same breach.
        let again = Event::ProtocolError {
            reason: reason.into(),
        };
        assert!(ev(&mut c, &v, 3, again).is_empty());
        assert_eq!(
            c.paths(),
            [
                ("protocol error hit by a server", 2),
                ("server refused to start", 0)
            ]
        );
    }

    #[test]
    fn fires_when_a_server_refuses_to_start() {
        let mut v = FakeView::new(3);
        v.down.insert(ServerId(2));
        {
            let d = v.disks.get_mut(&ServerId(2)).unwrap();
            d.accepted_epoch = 1;
            d.current_epoch = 1;
            d.log.push(Txn::initial(Zxid::new(2, 1)));
        }
        let mut c = ProtocolError::default();
        crate::assert_fresh(&c);
        let out = ev(
            &mut c,
            &v,
            2,
            Event::StartupFailed {
                reason: "The current epoch, 1, is older than the last zxid, 2:1".into(),
            },
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server, Some(ServerId(2)));
        assert!(
            out[0].message.contains(
                "s2 refused to start (disk: acceptedEpoch 1, currentEpoch 1, last logged zxid 2:1)"
            ),
            "{}",
            out[0].message
        );
        assert_eq!(crate::path_count(&c, "server refused to start"), 1);
    }

    #[test]
    fn quiet_on_ordinary_events() {
        let v = FakeView::new(3);
        let mut c = ProtocolError::default();
        for event in [
            Event::TreeReset { kept: 0 },
            Event::LearnerShutdown {
                reason: "connection to the leader broke".into(),
            },
            Event::LeaderShutdown {
                reason: "Not sufficient followers synced, only synced with sids: [ s3 ]".into(),
            },
            Event::Synced {
                leader: ServerId(3),
                epoch: 2,
            },
        ] {
            assert!(ev(&mut c, &v, 1, event).is_empty());
        }
    }
}
