//! `progress`: after recovery every pending client operation is answered and new writes
//! commit.
//!
//! ZAB promises liveness only once a quorum is up and connected; until then a client may
//! wait forever. So the check runs once, at [`Happening::LivenessDeadline`], and only when a
//! connected quorum exists: every operation a client was still waiting for must have been
//! answered unless it was first submitted in the second half of the liveness window (it may
//! legitimately still be in flight). A client resubmitting after a connection loss keeps its
//! operation's number and first submission time, so failovers do not reset the clock.
//!
//! Incremental: one entry per client with an operation outstanding.

use crate::view::connected_quorum;
use crate::{Checker, ClientEvent, Happening, HappeningKind, Interest, View, Violation};
use std::collections::BTreeMap;
use zab::{ClientId, ServerId};

struct Waiting {
    op: u64,
    write: bool,
    first_us: u64,
    last_server: ServerId,
    submissions: u32,
}

#[derive(Default)]
pub struct Progress {
    waiting: BTreeMap<ClientId, Waiting>,
}

impl Checker for Progress {
    fn name(&self) -> &'static str {
        "progress"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[HappeningKind::Client, HappeningKind::LivenessDeadline])
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::Client { id, event } => match event {
                ClientEvent::Submitted {
                    op, server, write, ..
                } => {
                    let w = self.waiting.entry(*id).or_insert(Waiting {
                        op: *op,
                        write: *write,
                        first_us: view.now_us(),
                        last_server: *server,
                        submissions: 0,
                    });
                    if w.op != *op {
                        *w = Waiting {
                            op: *op,
                            write: *write,
                            first_us: view.now_us(),
                            last_server: *server,
                            submissions: 0,
                        };
                    }
                    w.last_server = *server;
                    w.submissions += 1;
                }
                ClientEvent::Answered { op, .. } => {
                    if self.waiting.get(id).is_some_and(|w| w.op == *op) {
                        self.waiting.remove(id);
                    }
                }
                ClientEvent::ConnectionLoss { .. } => {}
            },
            Happening::LivenessDeadline { faults_over_us } => {
                self.at_deadline(*faults_over_us, view, out)
            }
            _ => {}
        }
    }
}

impl Progress {
    fn at_deadline(&mut self, faults_over_us: u64, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        let cutoff = faults_over_us + now.saturating_sub(faults_over_us) / 2;
        let Some(quorum) = connected_quorum(view) else {
            return;
        };
        for (client, w) in &self.waiting {
            if w.first_us > cutoff {
                continue;
            }
            out.push(Violation {
                invariant: "progress",
                at_us: now,
                server: Some(w.last_server),
                message: format!(
                    "{client}'s {} (operation {}) submitted at {} ms is still unanswered {} ms after the last fault ended (at {} ms), after {} submission(s), the last to {}; {} were up and connected",
                    if w.write { "write" } else { "read" },
                    w.op,
                    w.first_us / 1000,
                    now.saturating_sub(faults_over_us) / 1000,
                    faults_over_us / 1000,
                    w.submissions,
                    w.last_server,
                    quorum.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeView;
    use zab::{ServerId, Zxid};

    fn feed(c: &mut Progress, v: &FakeView, client: u32, e: ClientEvent) -> Vec<Violation> {
        let mut out = Vec::new();
        c.on(
            &Happening::Client {
                id: ClientId(client),
                event: &e,
            },
            v,
            &mut out,
        );
        out
    }

    fn deadline(c: &mut Progress, v: &FakeView, faults_over_us: u64) -> Vec<Violation> {
        let mut out = Vec::new();
        c.on(&Happening::LivenessDeadline { faults_over_us }, v, &mut out);
        out
    }

    fn submitted(op: u64, cxid: u64, server: u8) -> ClientEvent {
        ClientEvent::Submitted {
            op,
            cxid,
            server: ServerId(server),
            write: true,
        }
    }

    #[test]
    fn fires_when_a_write_submitted_before_recovery_is_never_answered() {
        let mut v = FakeView::new(3);
        let mut c = Progress::default();
        v.now = 1_000_000;
        assert!(feed(&mut c, &v, 1, submitted(4, 7, 2)).is_empty());
        v.now = 3_000_000;
        assert!(feed(
            &mut c,
            &v,
            1,
            ClientEvent::ConnectionLoss {
                server: ServerId(2)
            }
        )
        .is_empty());
        v.now = 3_500_000;
        assert!(feed(&mut c, &v, 1, submitted(4, 8, 3)).is_empty());
        v.now = 20_000_000;
        let out = deadline(&mut c, &v, 10_000_000);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].invariant, "progress");
        assert_eq!(out[0].server, Some(ServerId(3)));
        let m = &out[0].message;
        assert!(
            m.contains("c1's write (operation 4) submitted at 1000 ms"),
            "{m}"
        );
        assert!(m.contains("after 2 submission(s), the last to s3"), "{m}");
    }

    #[test]
    fn quiet_when_answered_after_a_failover() {
        let mut v = FakeView::new(3);
        let mut c = Progress::default();
        v.now = 1_000_000;
        feed(&mut c, &v, 1, submitted(4, 7, 2));
        v.now = 3_500_000;
        feed(&mut c, &v, 1, submitted(4, 8, 3));
        v.now = 12_000_000;
        let answered = ClientEvent::Answered {
            op: 4,
            cxid: 8,
            server: ServerId(3),
            zxid: Zxid::new(2, 1),
        };
        feed(&mut c, &v, 1, answered);
        v.now = 20_000_000;
        assert!(deadline(&mut c, &v, 10_000_000).is_empty());
    }

    #[test]
    fn quiet_for_an_operation_submitted_late_in_the_window() {
        let mut v = FakeView::new(3);
        let mut c = Progress::default();
        v.now = 19_000_000;
        feed(&mut c, &v, 2, submitted(1, 1, 1));
        v.now = 20_000_000;
        assert!(deadline(&mut c, &v, 10_000_000).is_empty());
    }

    #[test]
    fn quiet_without_a_connected_quorum() {
        let mut v = FakeView::new(3);
        let mut c = Progress::default();
        v.now = 1_000_000;
        feed(&mut c, &v, 1, submitted(1, 1, 1));
        v.down.insert(ServerId(1));
        v.down.insert(ServerId(2));
        v.now = 20_000_000;
        assert!(deadline(&mut c, &v, 10_000_000).is_empty());
    }
}
