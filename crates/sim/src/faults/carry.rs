//! Carrying out faults: a trigger's match, a timed or random fault, each scripted action with
//! its selector resolved to an endpoint when it fires. Each action is written once for
//! servers and clients; what a crash, restart or pause does to a process is in the event
//! loop's process module.

use super::Planned;
use crate::network::Partition;
use crate::sim::{us, Ev, Sim};
use crate::world::World;
use check::Happening;
use rand::seq::SliceRandom;
use rand::Rng;
use scenario::{Action, OnKind, Selector};
use std::collections::BTreeSet;
use zab::{Endpoint, ServerId, ServerState};

impl Sim {
    /// Counts a send, arrival or state change against the armed triggers and fires those
    /// that reach their `nth` match, before the event itself goes on.
    pub(crate) fn check_triggers(
        &mut self,
        kind: OnKind,
        name: &str,
        from: Endpoint,
        to: Endpoint,
    ) {
        if self.armed.is_empty() {
            return;
        }
        let now = self.world.now;
        let mut fire = Vec::new();
        for i in 0..self.armed.len() {
            let world = &self.world;
            let from_ok = |s: &Selector| matches_selector(world, s, from);
            let to_ok = |s: &Selector| matches_selector(world, s, to);
            if self.armed[i].count(kind, name, now, &from_ok, &to_ok) {
                fire.push(i);
            }
        }
        for i in fire {
            let (index, f) = (self.armed[i].index, self.armed[i].fault.clone());
            if let Some(c) = self.coverage.as_mut().filter(|_| kind != OnKind::State) {
                c.triggered(name, kind == OnKind::Receive);
            }
            let what = match kind {
                OnKind::State => format!("{from} became {name}"),
                OnKind::Send => format!("{name} {from}->{to} about to leave"),
                OnKind::Receive => format!("{name} {from}->{to} about to arrive"),
            };
            self.log_fault(format!(
                "trigger of [[faults]] at line {} matched: {what}",
                f.line
            ));
            let delay_us = match f.trigger {
                scenario::Trigger::On { delay_ms, .. } => delay_ms * 1000,
                scenario::Trigger::At { .. } => 0,
            };
            let p = Planned::Scripted {
                index,
                action: f.action,
            };
            self.extend_faults(now + delay_us + super::duration_us(&p));
            if delay_us == 0 {
                self.run_fault(p);
            } else {
                // Its selectors are resolved when it fires, as a timed fault's are.
                self.queue.push(now + delay_us, Ev::Fault(p));
            }
        }
    }

    pub(crate) fn run_fault(&mut self, p: Planned) {
        match p {
            Planned::Scripted { index, action } => self.run_action(Some(index), action),
            Planned::RandomCrash { restart_after_us } => {
                if let Some(id) = self.pick(|w, s| w.slot(s).is_some_and(|x| x.is_up())) {
                    let who = Endpoint::Server(id);
                    self.executed(
                        None,
                        Action::Crash {
                            target: selector(who),
                            restart_after_ms: Some(restart_after_us / 1000),
                        },
                    );
                    self.crash(who, "random crash");
                    self.queue
                        .push(self.world.now + restart_after_us, Ev::Restart(who));
                }
            }
            Planned::RandomPartition {
                heal_after_us,
                one_way,
            } => {
                let mut ids: Vec<ServerId> = self.world.members.clone();
                ids.shuffle(&mut self.rng_faults);
                let k = self
                    .rng_faults
                    .gen_range(1..ids.len().max(2))
                    .min(ids.len());
                let groups: Vec<Vec<Endpoint>> = vec![
                    ids[..k].iter().map(|s| Endpoint::Server(*s)).collect(),
                    ids[k..].iter().map(|s| Endpoint::Server(*s)).collect(),
                ];
                self.executed(
                    None,
                    Action::Partition {
                        groups: selectors(&groups),
                        one_way,
                        heal_after_ms: Some(heal_after_us / 1000),
                    },
                );
                let why = if one_way {
                    "random one-way partition"
                } else {
                    "random partition"
                };
                self.partition(groups, one_way, Some(heal_after_us), why);
            }
            Planned::RandomPause { duration_us } => {
                let paused = |w: &World, s: ServerId| w.slot(s).is_some_and(|x| x.process.paused);
                if let Some(id) =
                    self.pick(|w, s| w.slot(s).is_some_and(|x| x.is_up()) && !paused(w, s))
                {
                    let who = Endpoint::Server(id);
                    self.executed(
                        None,
                        Action::Pause {
                            target: selector(who),
                            duration_ms: duration_us / 1000,
                        },
                    );
                    self.pause(who, duration_us, "random pause");
                }
            }
            Planned::RandomClientCrash { restart_after_us } => {
                let Some(id) = self.resolve_client(Selector::Client, true) else {
                    return;
                };
                let who = Endpoint::Client(id);
                self.executed(
                    None,
                    Action::Crash {
                        target: selector(who),
                        restart_after_ms: Some(restart_after_us / 1000),
                    },
                );
                if self.crash(who, "random crash") {
                    self.queue
                        .push(self.world.now + restart_after_us, Ev::Restart(who));
                }
            }
            Planned::RandomClientPause { duration_us } => {
                let Some(id) = self.resolve_client(Selector::Client, true) else {
                    return;
                };
                let who = Endpoint::Client(id);
                if self.process(who).is_some_and(|p| p.paused) {
                    return;
                }
                self.executed(
                    None,
                    Action::Pause {
                        target: selector(who),
                        duration_ms: duration_us / 1000,
                    },
                );
                self.pause(who, duration_us, "random pause");
            }
        }
    }

    /// Carries out a scripted action (`at`: its `[[faults]]` index), its targets resolved now.
    fn run_action(&mut self, at: Option<usize>, action: Action) {
        let now = self.world.now;
        match action {
            Action::Crash {
                target,
                restart_after_ms,
            } => {
                let Some(who) = self.resolve(target, true) else {
                    return self.skip("crash", target, true);
                };
                self.executed(
                    at,
                    Action::Crash {
                        target: selector(who),
                        restart_after_ms,
                    },
                );
                self.crash(who, "crash");
                if let Some(ms) = restart_after_ms {
                    self.queue.push(now + us(ms), Ev::Restart(who));
                }
            }
            Action::Restart { target } => {
                let Some(who) = self.resolve(target, false) else {
                    return self.skip("restart", target, false);
                };
                let target = selector(who);
                self.executed(at, Action::Restart { target });
                self.restart(who);
            }
            Action::Pause {
                target,
                duration_ms,
            } => {
                let Some(who) = self.resolve(target, true) else {
                    return self.skip("pause", target, true);
                };
                self.executed(
                    at,
                    Action::Pause {
                        target: selector(who),
                        duration_ms,
                    },
                );
                self.pause(who, us(duration_ms), "pause");
            }
            Action::Isolate {
                target,
                heal_after_ms,
            } => {
                let Some(who) = self.resolve(target, true) else {
                    return self.skip("isolate", target, true);
                };
                let rest: Vec<Endpoint> = self
                    .world
                    .members
                    .iter()
                    .map(|s| Endpoint::Server(*s))
                    .filter(|e| *e != who)
                    .collect();
                self.executed(
                    at,
                    Action::Isolate {
                        target: selector(who),
                        heal_after_ms,
                    },
                );
                let groups = vec![vec![who], rest];
                self.partition(groups, false, heal_after_ms.map(us), "isolate");
            }
            Action::Partition {
                groups,
                one_way,
                heal_after_ms,
            } => {
                let resolved = self.resolve_groups(&groups);
                self.executed(
                    at,
                    Action::Partition {
                        groups: selectors(&resolved),
                        one_way,
                        heal_after_ms,
                    },
                );
                self.partition(resolved, one_way, heal_after_ms.map(us), "partition");
            }
            Action::Heal => {
                self.executed(at, Action::Heal);
                self.world.net.partitions.clear();
                self.log_fault("heal all partitions".into());
                self.note(Happening::Network);
            }
        }
    }

    /// Records what a fault turned out to be, with its targets resolved, for `--export`.
    fn executed(&mut self, scripted: Option<usize>, action: Action) {
        self.executed.push(crate::export::ExecutedFault {
            at_us: self.world.now,
            scripted,
            action,
        });
    }

    /// A fault whose target matched nothing when it fired: said in the scenario's own words
    /// (`recipe-leader`, `s1`), with what the target had to be (running, or down for a
    /// restart).
    fn skip(&mut self, what: &str, target: Selector, running: bool) {
        let state = if running { "running" } else { "crashed" };
        self.log_fault(format!(
            "{what} skipped: nothing {state} matches `{}` now",
            scenario::selector(target)
        ));
    }

    /// A random member satisfying `ok`, drawn from the fault stream.
    fn pick(&mut self, ok: impl Fn(&World, ServerId) -> bool) -> Option<ServerId> {
        let candidates: Vec<ServerId> = self
            .world
            .members
            .iter()
            .copied()
            .filter(|s| ok(&self.world, *s))
            .collect();
        candidates.choose(&mut self.rng_faults).copied()
    }

    /// Resolves a selector when the fault fires. `up` asks for a running target (crash, pause,
    /// isolate); otherwise a crashed one (restart).
    fn resolve(&mut self, sel: Selector, up: bool) -> Option<Endpoint> {
        let alive = |w: &World, s: ServerId| w.slot(s).is_some_and(|x| x.is_up());
        let server = match sel {
            Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader => {
                return self.resolve_client(sel, up).map(Endpoint::Client);
            }
            Selector::Server(id) => self
                .world
                .slot(id)
                .map(|_| id)
                .filter(|id| alive(&self.world, *id) == up),
            Selector::Leader if up => self.current_leader(),
            Selector::Leader => self
                .records
                .last_crashed_leader
                .filter(|id| !alive(&self.world, *id)),
            Selector::Follower => self
                .pick(|w, s| alive(w, s) == up && state_of(w, s) == Some(ServerState::Following)),
            Selector::Observer => self.pick(|w, s| w.cfg.is_observer(s) && alive(w, s) == up),
            Selector::Any | Selector::Rest => self.pick(|w, s| alive(w, s) == up),
        };
        server.map(Endpoint::Server)
    }

    /// The established leader of the highest epoch, else any server in LEADING.
    fn current_leader(&self) -> Option<ServerId> {
        let w = &self.world;
        let leading = || {
            w.members
                .iter()
                .copied()
                .filter(|s| state_of(w, *s) == Some(ServerState::Leading))
        };
        leading()
            .filter(|s| w.running(*s).is_some_and(|x| x.is_established_leader()))
            .max_by_key(|s| w.running(*s).and_then(|x| x.role_epoch()))
            .or_else(|| leading().next())
    }

    /// Resolves partition groups. "rest" is every server not named; clients are in a
    /// partition only where a group names them.
    fn resolve_groups(&mut self, groups: &[Vec<Selector>]) -> Vec<Vec<Endpoint>> {
        let mut named: BTreeSet<Endpoint> = BTreeSet::new();
        let mut out: Vec<Option<Vec<Endpoint>>> = Vec::new();
        for g in groups {
            if g.contains(&Selector::Rest) {
                out.push(None);
                continue;
            }
            let mut ids = Vec::new();
            for sel in g {
                let e = match sel {
                    Selector::ClientN(n) => Some(Endpoint::Client(zab::ClientId(*n))),
                    // A named server that is down still belongs to its group.
                    Selector::Server(id) => Some(Endpoint::Server(*id)),
                    _ => self.resolve(*sel, true),
                };
                if let Some(e) = e {
                    if named.insert(e) {
                        ids.push(e);
                    }
                }
            }
            out.push(Some(ids));
        }
        let rest: Vec<Endpoint> = self
            .world
            .members
            .iter()
            .map(|s| Endpoint::Server(*s))
            .filter(|e| !named.contains(e))
            .collect();
        out.into_iter()
            .map(|g| g.unwrap_or_else(|| rest.clone()))
            .collect()
    }

    fn partition(
        &mut self,
        groups: Vec<Vec<Endpoint>>,
        one_way: bool,
        heal_after_us: Option<u64>,
        why: &str,
    ) {
        self.next_partition += 1;
        let pid = self.next_partition;
        let mut map = std::collections::BTreeMap::new();
        for (i, g) in groups.iter().enumerate() {
            for e in g {
                map.insert(*e, i);
            }
        }
        let text: Vec<String> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        self.log_fault(format!(
            "{why} {pid}: [{}]{}",
            text.join("] | ["),
            if one_way { " one-way" } else { "" }
        ));
        self.world.net.partitions.push(Partition {
            id: pid,
            groups: map,
            one_way,
        });
        // Every open connection the partition now cuts breaks.
        let cut = self.world.net.open_conns_cut();
        self.break_conns(cut, None);
        self.note(Happening::Network);
        if let Some(d) = heal_after_us {
            self.queue.push(self.world.now + d, Ev::Heal(pid));
        }
    }

    pub(crate) fn heal(&mut self, pid: u64) {
        let before = self.world.net.partitions.len();
        self.world.net.partitions.retain(|p| p.id != pid);
        if self.world.net.partitions.len() != before {
            self.log_fault(format!("heal partition {pid}"));
            self.note(Happening::Network);
        }
    }
}

/// The concrete selector of a resolved target.
fn selector(e: Endpoint) -> Selector {
    match e {
        Endpoint::Server(id) => Selector::Server(id),
        Endpoint::Client(c) => Selector::ClientN(c.0),
    }
}

/// Concrete selectors for resolved partition groups.
fn selectors(groups: &[Vec<Endpoint>]) -> Vec<Vec<Selector>> {
    groups
        .iter()
        .map(|g| g.iter().copied().map(selector).collect())
        .collect()
}

fn state_of(w: &World, id: ServerId) -> Option<ServerState> {
    w.running(id).map(|s| s.state())
}

/// Does an endpoint match a trigger's `from`/`to` selector right now?
fn matches_selector(w: &World, sel: &Selector, e: Endpoint) -> bool {
    match (sel, e) {
        (Selector::Any | Selector::Rest, Endpoint::Server(_)) => true,
        (Selector::Server(id), Endpoint::Server(s)) => *id == s,
        (Selector::Leader, Endpoint::Server(s)) => state_of(w, s) == Some(ServerState::Leading),
        (Selector::Follower, Endpoint::Server(s)) => state_of(w, s) == Some(ServerState::Following),
        (Selector::Observer, Endpoint::Server(s)) => w.cfg.is_observer(s),
        (Selector::Client, Endpoint::Client(_)) => true,
        (Selector::RecipeLeader, Endpoint::Client(c)) => w.recipe_leader == Some(c),
        (Selector::ClientN(n), Endpoint::Client(c)) => *n == c.0,
        _ => false,
    }
}
