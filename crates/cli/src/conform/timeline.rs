//! The real run in the report's terms: what the harness observed, turned into the report's
//! trace lines and folded by the same collector as a simulated trace, so that the real
//! ensemble is drawn in the same lanes as a simulated run (`sim conform --report`).
//!
//! Where the lines come from: server states and phases from the servers' logs ("Peer state
//! changed", QuorumPeer.java:903-922 at release-3.8.0-1), a step-down from the leader's
//! "Shutdown called" line, commits from the COMMIT packets the proxies saw, each server's
//! epoch from the NEWLEADER packet of its role, faults and partitions from the harness's
//! own log, elections as [`super::real`] worked them out, and the real clients' sessions
//! and requests. Nothing is drawn that the real run did not show: votes are not (the logs
//! show the notifications a server received, not the vote it holds), nor message arrows.

use super::plan::Plan;
use super::real::{Done, RealRun};
use conform::EventKind;
use report::html::line::{Event, Line, OutcomeElection, OutcomeInfo, RunInfo, Txn};
use report::html::{Collector, Run};
use std::collections::{BTreeMap, BTreeSet};

/// The report's model of the real run.
pub fn real_run(
    sc: &scenario::Scenario,
    plan: &Plan,
    real: &RealRun,
    zk: zab::ZkVersion,
    command: &str,
    source: Option<&str>,
) -> Run {
    let mut lines = Lines::default();
    let us = |ms: f64| (ms.max(0.0) * 1000.0).round() as u64;
    let unix_us = |unix_ms: i64| us((unix_ms - real.t0_unix_ms) as f64);
    server_states(&mut lines, real, &unix_us);
    commits(&mut lines, real, &unix_us);
    faults(&mut lines, real, &us);
    for e in &real.elections {
        let at = us(e.established_ms);
        lines.push(
            at,
            Line::Election {
                t_us: at,
                epoch: e.epoch,
                leader: format!("s{}", e.leader),
                started_us: us(e.started_ms),
                established_us: at,
            },
        );
    }
    clients(&mut lines, real, &us);

    let names = |ids: &[zab::ServerId]| ids.iter().map(|s| s.to_string()).collect();
    let mut c = Collector::new(report::html::DEFAULT_WINDOW_MS * 1000);
    c.fold(Line::Run(RunInfo {
        scenario: sc.name.clone(),
        path: sc.path.display().to_string(),
        description: sc.description.clone(),
        seed: sc.seed,
        bugs: Vec::new(),
        servers: names(&sc.cluster.participants),
        observers: names(&sc.cluster.observers),
        reproduce: command.to_string(),
        source: source.map(str::to_string),
    }));
    lines.0.sort_by_key(|(t, n, _)| (*t, *n));
    for (_, _, l) in lines.0 {
        c.fold(l);
    }
    c.fold(Line::Outcome(OutcomeInfo {
        passed: real.same_history,
        leader: real.leader.map(|l| l as u32),
        epoch: real.epoch,
        elections: real
            .elections
            .iter()
            .map(|e| OutcomeElection {
                epoch: e.epoch,
                leader: e.leader as u32,
                started_ms: e.started_ms.max(0.0),
                established_ms: e.established_ms.max(0.0),
                recovered: Vec::new(),
            })
            .collect(),
        committed: real.committed.len() as u64,
        sim_ms: plan.duration_ms as f64,
        reproduce: command.to_string(),
        zk_version: zk.name().to_string(),
        ..OutcomeInfo::default()
    }));
    c.finish()
}

/// Lines with their times and the order they were made in, which breaks ties.
#[derive(Default)]
struct Lines(Vec<(u64, usize, Line)>);

impl Lines {
    fn push(&mut self, t_us: u64, line: Line) {
        let n = self.0.len();
        self.0.push((t_us, n, line));
    }
}

/// ZooKeeper's "following - synchronization - diff" as the trace's state and phase names.
fn state_and_phase(detailed: &str) -> (String, String) {
    let mut parts = detailed.split(" - ");
    let capital = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    let state = capital(parts.next().unwrap_or("looking"));
    let phase = parts.next().map_or("Election".to_string(), capital);
    (state, phase)
}

fn server_states(lines: &mut Lines, real: &RealRun, unix_us: &impl Fn(i64) -> u64) {
    // The epoch of a role: the NEWLEADER the server sent (as leader) or got (as learner)
    // after it last went LOOKING.
    let newleaders: Vec<(i64, u64, u64, u64)> = real
        .packets
        .iter()
        .filter(|p| p.kind == conform::packet::kind::NEWLEADER)
        .map(|p| (p.time_ms, p.from, p.to, (p.zxid as u64) >> 32))
        .collect();
    let mut looking_since: BTreeMap<u64, i64> = BTreeMap::new();
    let mut epoch: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &real.log_events {
        let t = unix_us(e.time_ms);
        let server = format!("s{}", e.server);
        let event = match &e.kind {
            EventKind::Looking => Some(("Looking".to_string(), "Election".to_string())),
            EventKind::PeerState(detailed) => Some(state_and_phase(detailed)),
            EventKind::LeaderShutdown { reason } => {
                lines.push(
                    t,
                    Line::Event {
                        t_us: t,
                        server: server.clone(),
                        event: Event::LeaderShutdown {
                            reason: reason.clone(),
                        },
                    },
                );
                None
            }
            EventKind::FollowerShutdown => {
                lines.push(
                    t,
                    Line::Event {
                        t_us: t,
                        server: server.clone(),
                        event: Event::LearnerShutdown {
                            reason: "shutdown Follower".into(),
                        },
                    },
                );
                None
            }
            _ => None,
        };
        let Some((state, phase)) = event else {
            continue;
        };
        if state == "Looking" {
            looking_since.insert(e.server, e.time_ms);
        } else {
            let since = looking_since.get(&e.server).copied().unwrap_or(i64::MIN);
            if let Some((_, _, _, ep)) = newleaders
                .iter()
                .find(|(pt, from, to, _)| *pt >= since && (*from == e.server || *to == e.server))
            {
                epoch.insert(e.server, *ep);
            }
        }
        let epoch = epoch.get(&e.server).copied().unwrap_or(0);
        lines.push(
            t,
            Line::Event {
                t_us: t,
                server,
                event: Event::State {
                    state,
                    phase,
                    epoch,
                },
            },
        );
    }
}

/// A commit is drawn where the leader first sent COMMIT for the txn.
fn commits(lines: &mut Lines, real: &RealRun, unix_us: &impl Fn(i64) -> u64) {
    let mut seen = BTreeSet::new();
    for p in &real.packets {
        if p.kind != conform::packet::kind::COMMIT || !seen.insert(p.zxid) {
            continue;
        }
        let t = unix_us(p.time_ms);
        lines.push(
            t,
            Line::Event {
                t_us: t,
                server: format!("s{}", p.from),
                event: Event::Committed {
                    txn: Txn {
                        zxid: p.zxid as u64,
                    },
                    acks: Vec::new(),
                },
            },
        );
    }
}

fn faults(lines: &mut Lines, real: &RealRun, us: &impl Fn(f64) -> u64) {
    let name = |id: &u64| format!("s{id}");
    // The partitions holding, by the index of the fault that made them.
    let mut holding: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
    let all: BTreeSet<u64> = real.last_zxid.keys().copied().collect();
    for (i, f) in real.faults.iter().enumerate() {
        let t = us(f.at_ms);
        lines.push(
            t,
            Line::Fault {
                t_us: t,
                fault: f.done.to_string(),
            },
        );
        let network = match &f.done {
            Done::Crash(id) => {
                lines.push(
                    t,
                    Line::Crash {
                        t_us: t,
                        server: name(id),
                    },
                );
                false
            }
            Done::Restart(id) => {
                lines.push(
                    t,
                    Line::Restart {
                        t_us: t,
                        server: name(id),
                    },
                );
                false
            }
            Done::Pause(id) => {
                lines.push(
                    t,
                    Line::Pause {
                        t_us: t,
                        server: name(id),
                    },
                );
                false
            }
            Done::Resume(id) => {
                lines.push(
                    t,
                    Line::Resume {
                        t_us: t,
                        server: name(id),
                    },
                );
                false
            }
            Done::Partition { sides, .. } => {
                holding.insert(
                    i,
                    sides.iter().map(|s| s.iter().map(name).collect()).collect(),
                );
                true
            }
            Done::Isolate(id) => {
                let rest = all.iter().filter(|o| *o != id).map(name).collect();
                holding.insert(i, vec![vec![name(id)], rest]);
                true
            }
            Done::Heal(Some(of)) => holding.remove(of).is_some(),
            Done::Heal(None) => {
                holding.clear();
                true
            }
            // The client's own record carries its crash, pause and resume.
            Done::ClientCrash(_)
            | Done::ClientRestart(_)
            | Done::ClientPause(_)
            | Done::ClientResume(_)
            | Done::Skipped(_) => false,
        };
        if network {
            lines.push(
                t,
                Line::Network {
                    t_us: t,
                    partitions: holding.values().cloned().collect(),
                },
            );
        }
    }
}

/// The real clients' events, read by the report exactly as a simulated trace's client
/// events are: each is serialized as the simulator writes it and read back by the report's
/// own reader.
fn clients(lines: &mut Lines, real: &RealRun, us: &impl Fn(f64) -> u64) {
    for c in &real.clients {
        let client = format!("c{}", c.client);
        for e in &c.events {
            let Ok(event) = serde_json::to_value(&e.event).and_then(serde_json::from_value) else {
                continue;
            };
            let t = us(e.time_ms);
            lines.push(
                t,
                Line::Client {
                    t_us: t,
                    client: client.clone(),
                    event,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeepers_detailed_state_reads_as_the_traces_state_and_phase() {
        assert_eq!(
            state_and_phase("following - synchronization - diff"),
            ("Following".into(), "Synchronization".into())
        );
        assert_eq!(
            state_and_phase("leading - broadcast"),
            ("Leading".into(), "Broadcast".into())
        );
        assert_eq!(
            state_and_phase("looking"),
            ("Looking".into(), "Election".into())
        );
    }
}
