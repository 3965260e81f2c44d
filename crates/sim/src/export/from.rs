//! `sim run --export PATH --at-ms T`: the rest of a run, from a moment on, as a scenario that
//! starts from the disks of that moment.
//!
//! This is how a failure found in simulation is taken to a real ensemble: `sim conform`
//! writes the `[[server]]` tables as the servers' data directories and the real servers carry
//! on from there through the faults that were still to come. Only what a disk holds can be
//! carried over, so the exported run is the original as if every process had stopped at the
//! moment and started again from its disk: messages in flight, sessions, votes and timers are
//! gone. What was true at the moment and outlives a restart is kept as faults at 0 ms: a
//! server down then stays down until its pending restart; a paused one starts when its pause
//! would have ended (it takes no step before, and it restarts from its disk like the rest);
//! a partition in place then is in place from the start, until its heal.
//!
//! A `[[server]]` log names zxids, not txns: the txns become the scenario's initial txns,
//! which occupy their zxids and change no znode, and the same zxid on two servers is the same
//! txn. A moment at which two servers hold different txns at one zxid cannot be written so,
//! and is refused.

use super::ExecutedFault;
use crate::capture::DiskCapture;
use scenario::{Action, Fault, Scenario, Selector, ServerInit, Trigger};
use std::collections::BTreeMap;
use zab::{BugSet, DiskImage, ServerId, TxnId, Zxid};

/// Why the disks of a moment cannot be written as a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromError(pub String);

impl std::fmt::Display for FromError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scenario that carries on from `capture`'s moment. `executed` are the run's faults as
/// carried out (with concrete targets), `bugs` the variants the run had on.
pub fn export_from(
    sc: &Scenario,
    bugs: BugSet,
    executed: &[ExecutedFault],
    capture: &DiskCapture,
) -> Result<Scenario, FromError> {
    let at_us = capture.at_us;
    let at_ms = at_us / 1000;
    if at_ms >= sc.run.duration_ms {
        return Err(FromError(format!(
            "{at_ms} ms is not before the end of the scenario's run ({} ms)",
            sc.run.duration_ms
        )));
    }
    let histories = histories(&capture.disks)?;
    let mut out = sc.clone();
    out.name = format!("{}-from-{at_ms}ms", sc.name);
    out.description = format!(
        "The rest of {} (seed {}) from {at_ms} ms on: every server starts from its disk as \
         it was then, and the faults still to come follow.",
        sc.name, sc.seed
    );
    out.bugs = bugs;
    out.expect = scenario::Expect::default();
    out.run.duration_ms = sc.run.duration_ms - at_ms;
    out.random = sc.random.clone().map(|r| scenario::RandomFaults {
        until_ms: r.until_ms.saturating_sub(at_ms),
        ..super::nothing_to_draw(r)
    });
    out.servers = capture
        .disks
        .iter()
        .filter_map(|(id, disk)| {
            let log: Vec<Zxid> = histories[id].iter().map(|t| t.zxid).collect();
            let empty = log.is_empty() && disk.accepted_epoch == 0 && disk.current_epoch == 0;
            (!empty).then_some(ServerInit {
                id: *id,
                accepted_epoch: disk.accepted_epoch,
                current_epoch: disk.current_epoch,
                log,
            })
        })
        .collect();
    out.cluster.committed = committed_upto(sc, capture, &histories);
    out.faults = state_at(executed, at_us);
    out.faults.extend(still_to_come(sc, executed, at_us));
    Ok(out)
}

/// Each server's history on disk: the txns its tree would hold after a restart, the snapshot
/// its log continues and then the log.
fn histories(disks: &[(ServerId, DiskImage)]) -> Result<BTreeMap<ServerId, Vec<TxnId>>, FromError> {
    let mut holder: BTreeMap<Zxid, (TxnId, ServerId)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (id, disk) in disks {
        if disk.updating_epoch {
            return Err(FromError(format!(
                "s{} has the updatingEpoch marker on disk, which a [[server]] table cannot say",
                id.0
            )));
        }
        let history = history(disk);
        for t in &history {
            match holder.get(&t.zxid) {
                Some((other, by)) if other != t => {
                    return Err(FromError(format!(
                        "s{} and s{} hold different txns at zxid {} (proposed by {} and {}); \
                         a [[server]] log names zxids only",
                        by.0, id.0, t.zxid, other.proposer, t.proposer
                    )));
                }
                Some(_) => {}
                None => {
                    holder.insert(t.zxid, (*t, *id));
                }
            }
        }
        out.insert(*id, history);
    }
    Ok(out)
}

fn history(disk: &DiskImage) -> Vec<TxnId> {
    let (mut txns, base) = match &disk.log_base {
        Some(b) => (b.tree.applied.to_vec(), b.zxid),
        None => (Vec::new(), Zxid::default()),
    };
    txns.extend(disk.log.iter().filter(|t| t.zxid > base).map(|t| t.id()));
    txns
}

/// The highest zxid up to which every txn on the disks was committed by the moment and is
/// held by a quorum of participants (what `[cluster] committed` may claim).
fn committed_upto(
    sc: &Scenario,
    capture: &DiskCapture,
    histories: &BTreeMap<ServerId, Vec<TxnId>>,
) -> Option<Zxid> {
    let quorum = sc.cluster.participants.len() / 2 + 1;
    let mut all: BTreeMap<Zxid, (TxnId, usize)> = BTreeMap::new();
    for (id, h) in histories {
        let participant = sc.cluster.participants.contains(id);
        for t in h {
            let entry = all.entry(t.zxid).or_insert((*t, 0));
            entry.1 += usize::from(participant);
        }
    }
    let mut upto = None;
    for (zxid, (txn, holders)) in all {
        if !capture.is_committed(txn) || holders < quorum {
            break;
        }
        upto = Some(zxid);
    }
    upto
}

/// What was in force at the moment and outlasts a restart, as faults at 0 ms: processes down
/// or paused, partitions in place.
fn state_at(executed: &[ExecutedFault], at_us: u64) -> Vec<Fault> {
    // Restarts a crash scheduled, by target: each fires whether or not the process was
    // restarted and crashed again in between, as the simulator's do.
    let mut restarts: Vec<(Selector, u64)> = Vec::new();
    let mut down: BTreeMap<String, Selector> = BTreeMap::new();
    let mut paused: BTreeMap<String, (Selector, u64)> = BTreeMap::new();
    let mut cuts: Vec<(Action, Option<u64>)> = Vec::new();
    let key = |s: Selector| scenario::selector(s);
    let settle = |t: u64,
                  down: &mut BTreeMap<String, Selector>,
                  paused: &mut BTreeMap<String, (Selector, u64)>,
                  cuts: &mut Vec<(Action, Option<u64>)>,
                  restarts: &[(Selector, u64)]| {
        for (s, when) in restarts {
            if *when <= t {
                down.remove(&key(*s));
            }
        }
        paused.retain(|_, (_, until)| *until > t);
        cuts.retain(|(_, heal)| heal.is_none_or(|h| h > t));
    };
    for e in executed.iter().filter(|e| e.at_us <= at_us) {
        let t = e.at_us;
        settle(t, &mut down, &mut paused, &mut cuts, &restarts);
        restarts.retain(|(_, when)| *when > t);
        match &e.action {
            Action::Crash {
                target,
                restart_after_ms,
            } => {
                down.insert(key(*target), *target);
                paused.remove(&key(*target));
                if let Some(ms) = restart_after_ms {
                    restarts.push((*target, t + ms * 1000));
                }
            }
            Action::Restart { target } => {
                down.remove(&key(*target));
            }
            Action::Pause {
                target,
                duration_ms,
            } => {
                let until = t + duration_ms * 1000;
                let entry = paused.entry(key(*target)).or_insert((*target, until));
                entry.1 = entry.1.max(until);
            }
            Action::Partition { heal_after_ms, .. } | Action::Isolate { heal_after_ms, .. } => {
                cuts.push((e.action.clone(), heal_after_ms.map(|ms| t + ms * 1000)));
            }
            Action::Heal => cuts.clear(),
        }
    }
    settle(at_us, &mut down, &mut paused, &mut cuts, &restarts);
    let after = |when: u64| (when - at_us) / 1000;
    let at_0 = |action: Action| Fault {
        trigger: Trigger::At { at_ms: 0 },
        action,
        line: 0,
    };
    let mut out = Vec::new();
    for (k, target) in &down {
        let restart = restarts
            .iter()
            .filter(|(s, when)| key(*s) == *k && *when > at_us)
            .map(|(_, when)| *when)
            .min();
        out.push(at_0(Action::Crash {
            target: *target,
            restart_after_ms: restart.map(after),
        }));
    }
    for (target, until) in paused.values() {
        // A paused server takes no step until `until`; exported, every process starts from
        // its disk, so it simply starts then. A client keeps its pause.
        out.push(at_0(match target {
            Selector::Server(_) => Action::Crash {
                target: *target,
                restart_after_ms: Some(after(*until)),
            },
            _ => Action::Pause {
                target: *target,
                duration_ms: after(*until),
            },
        }));
    }
    for (action, heal) in cuts {
        let heal_after_ms = heal.map(after);
        out.push(at_0(match action {
            Action::Partition {
                groups, one_way, ..
            } => Action::Partition {
                groups,
                one_way,
                heal_after_ms,
            },
            Action::Isolate { target, .. } => Action::Isolate {
                target,
                heal_after_ms,
            },
            other => other,
        }));
    }
    out
}

/// The faults after the moment: scripted ones that had not fired (their times shifted, a
/// fired one's targets as they were resolved), then random ones as the timed faults they
/// became.
fn still_to_come(sc: &Scenario, executed: &[ExecutedFault], at_us: u64) -> Vec<Fault> {
    let at_ms = at_us / 1000;
    let mut out = Vec::new();
    for (index, f) in sc.faults.iter().enumerate() {
        let fired = executed.iter().find(|e| e.scripted == Some(index));
        if fired.is_some_and(|e| e.at_us <= at_us) {
            continue;
        }
        let trigger = match &f.trigger {
            Trigger::At { at_ms: t } if *t * 1000 <= at_us => continue,
            Trigger::At { at_ms: t } => Trigger::At { at_ms: t - at_ms },
            Trigger::On {
                kind,
                name,
                from,
                to,
                nth,
                after_ms,
                delay_ms,
            } => Trigger::On {
                kind: *kind,
                name: name.clone(),
                from: *from,
                to: *to,
                nth: *nth,
                after_ms: after_ms.saturating_sub(at_ms),
                delay_ms: *delay_ms,
            },
        };
        out.push(Fault {
            trigger,
            action: fired.map_or_else(|| f.action.clone(), |e| e.action.clone()),
            line: 0,
        });
    }
    for e in executed
        .iter()
        .filter(|e| e.scripted.is_none() && e.at_us > at_us)
    {
        out.push(Fault {
            trigger: Trigger::At {
                at_ms: (e.at_us - at_us) / 1000,
            },
            action: e.action.clone(),
            line: 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::{Txn, TxnOp};

    fn at(ms: u64, action: Action) -> ExecutedFault {
        ExecutedFault {
            at_us: ms * 1000,
            scripted: None,
            action,
        }
    }

    fn s(id: u8) -> Selector {
        Selector::Server(ServerId(id))
    }

    fn crash(id: u8, restart_after_ms: Option<u64>) -> Action {
        Action::Crash {
            target: s(id),
            restart_after_ms,
        }
    }

    #[test]
    fn what_is_in_force_at_the_moment_starts_the_exported_run() {
        let executed = [
            // Down at 1000, back at 1500: nothing left of it.
            at(1000, crash(1, Some(500))),
            // Down at 1800 until 2600, 600 ms after the moment.
            at(1800, crash(2, Some(800))),
            // Down for good.
            at(1900, crash(3, None)),
            // Paused until 2300: starts 300 ms after the moment.
            at(
                1950,
                Action::Pause {
                    target: s(4),
                    duration_ms: 350,
                },
            ),
            // Healed by the heal-all at 1200.
            at(
                1100,
                Action::Isolate {
                    target: s(5),
                    heal_after_ms: None,
                },
            ),
            at(1200, Action::Heal),
            // In place until 2500.
            at(
                1500,
                Action::Partition {
                    groups: vec![vec![s(1)], vec![s(2), s(3)]],
                    one_way: true,
                    heal_after_ms: Some(1000),
                },
            ),
            // After the moment: not part of the state.
            at(2100, crash(5, None)),
        ];
        let faults = state_at(&executed, 2_000_000);
        let actions: Vec<(u64, Action)> = faults
            .iter()
            .map(|f| match f.trigger {
                Trigger::At { at_ms } => (at_ms, f.action.clone()),
                Trigger::On { .. } => panic!("a timed fault"),
            })
            .collect();
        assert_eq!(
            actions,
            vec![
                (0, crash(2, Some(600))),
                (0, crash(3, None)),
                (0, crash(4, Some(300))),
                (
                    0,
                    Action::Partition {
                        groups: vec![vec![s(1)], vec![s(2), s(3)]],
                        one_way: true,
                        heal_after_ms: Some(500),
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_restart_due_from_an_earlier_crash_still_fires_after_a_second_crash() {
        // Crashed at 100 (restart due at 2500), restarted by hand at 200, crashed again at
        // 300 for good: the simulator's restart from the first crash still brings it back.
        let executed = [
            at(100, crash(1, Some(2400))),
            at(200, Action::Restart { target: s(1) }),
            at(300, crash(1, None)),
        ];
        let faults = state_at(&executed, 1_000_000);
        assert_eq!(faults.len(), 1);
        assert_eq!(faults[0].action, crash(1, Some(1500)));
    }

    fn txn(epoch: u64, counter: u64, proposer: u8) -> Txn {
        Txn::from(zab::TxnFields {
            zxid: Zxid::new(epoch, counter),
            proposer: ServerId(proposer),
            request: None,
            op: TxnOp::Initial,
        })
    }

    fn disk(txns: Vec<Txn>) -> DiskImage {
        DiskImage {
            accepted_epoch: 1,
            current_epoch: 1,
            log: txns,
            ..DiskImage::default()
        }
    }

    #[test]
    fn two_servers_with_different_txns_at_one_zxid_cannot_be_written() {
        let same = [
            (ServerId(1), disk(vec![txn(1, 1, 1), txn(1, 2, 1)])),
            (ServerId(2), disk(vec![txn(1, 1, 1)])),
        ];
        let h = histories(&same).expect("one txn per zxid");
        assert_eq!(h[&ServerId(1)].len(), 2);
        let split = [
            (ServerId(1), disk(vec![txn(1, 1, 1), txn(1, 2, 1)])),
            (ServerId(2), disk(vec![txn(1, 1, 1), txn(1, 2, 2)])),
        ];
        let e = histories(&split).expect_err("two txns at 1:2");
        assert!(
            e.0.contains("s1 and s2 hold different txns at zxid 1:2"),
            "{e}"
        );
    }
}
