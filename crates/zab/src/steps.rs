//! Step-level tests of the server in etcd raft's data-driven style: a script of commands
//! (boot, run, write, isolate, crash, restart, state) drives real servers through the testkit,
//! and each command's outputs are printed under it, one per line, in
//! `crates/zab/testdata/steps/*.txt`. A change in what a leader, learner or election does
//! shows up as a diff of those files. `ZABSIM_REWRITE=1 cargo test -p zab steps` writes the
//! files anew after a deliberate change; review the diff.
//!
//! The format, per case: the command line, a `----` line, and the output, up to a blank line.
//! Lines starting with `#` before a command are kept as they are.

use crate::client_api::CreateMode;
use crate::db::DiskOp;
use crate::ids::{ClientId, ServerId};
use crate::io::{Event, Output};
use crate::testkit::{connect, create, Cluster};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One output as a line of a step script.
pub(crate) fn line(id: ServerId, o: &Output) -> String {
    match o {
        Output::Send { to, msg, .. } => match msg.zxid() {
            Some(z) => format!("{id} -> {to} {} {z}", msg.name()),
            None => format!("{id} -> {to} {}", msg.name()),
        },
        Output::Disk { op, .. } => format!("{id} disk {}", disk(op)),
        Output::Close { peer, channel } => format!("{id} closes {peer} {channel:?}"),
        Output::Event(e) => format!("{id} {}", event(e)),
        Output::Fired(bug) => format!("{id} fired {bug}"),
    }
}

fn disk(op: &DiskOp) -> String {
    match op {
        DiskOp::Append(t) => format!("append {}", t.id()),
        DiskOp::AppendToNewFile(t) => format!("append {} to a new log file", t.id()),
        DiskOp::Truncate(z) => format!("truncate after {z}"),
        DiskOp::DropSnapshotsAfter(z) => format!("drop snapshots after {z}"),
        DiskOp::Snapshot {
            snapshot,
            replaces_log,
        } => format!(
            "snapshot at {}{}",
            snapshot.zxid,
            if *replaces_log {
                ", replacing the log"
            } else {
                ""
            }
        ),
        DiskOp::AcceptedEpoch(e) => format!("acceptedEpoch {e}"),
        DiskOp::CurrentEpoch(e) => format!("currentEpoch {e}"),
        DiskOp::UpdatingEpoch(on) => format!("updatingEpoch {on}"),
    }
}

fn event(e: &Event) -> String {
    match e {
        Event::State {
            state,
            phase,
            epoch,
        } => format!("state {} {} epoch {epoch}", state.name(), phase.name()),
        Event::Vote {
            leader,
            zxid,
            peer_epoch,
            election_epoch,
        } => format!("votes {leader} ({peer_epoch}, {zxid}) in round {election_epoch}"),
        Event::Elected {
            leader,
            election_epoch,
        } => format!("elected {leader} in round {election_epoch}"),
        Event::EpochDecided { epoch } => format!("epoch decided {epoch}"),
        Event::Established { epoch, quorum } => {
            let q: Vec<String> = quorum.iter().map(|s| s.to_string()).collect();
            format!("established epoch {epoch} with {}", q.join(" "))
        }
        Event::SyncDecision {
            learner,
            mode,
            zxid,
            peer_last_zxid,
        } => format!(
            "syncs {learner} with {} {zxid} (it has {peer_last_zxid})",
            mode.name()
        ),
        Event::Synced { leader, epoch } => format!("synced with {leader} in epoch {epoch}"),
        Event::Proposed { txn, .. } => format!("proposed {txn}"),
        Event::Committed { txn, acks } => {
            let a: Vec<String> = acks.iter().map(|s| s.to_string()).collect();
            format!("committed {txn} acked by {}", a.join(" "))
        }
        Event::Delivered { from, count } => format!("delivered #{from}..#{count}"),
        Event::TreeReset { kept } => format!("tree reset, {kept} kept"),
        Event::LeaderShutdown { reason } => format!("leader shutdown: {reason}"),
        Event::LearnerShutdown { reason } => format!("learner shutdown: {reason}"),
        Event::ProtocolError { reason } => format!("protocol error: {reason}"),
        Event::StartupFailed { reason } => format!("startup failed: {reason}"),
    }
}

/// One command of a script, with its arguments.
struct Command {
    name: String,
    args: BTreeMap<String, String>,
}

impl Command {
    fn parse(text: &str) -> Command {
        let mut words = text.split_whitespace();
        let name = words.next().expect("a command").to_string();
        let args = words
            .map(|w| {
                let (k, v) = w
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{w}: key=value"));
                (k.to_string(), v.to_string())
            })
            .collect();
        Command { name, args }
    }

    fn num(&self, key: &str) -> u64 {
        self.args
            .get(key)
            .unwrap_or_else(|| panic!("{}: missing {key}=", self.name))
            .parse()
            .unwrap_or_else(|_| panic!("{}: {key} is a number", self.name))
    }

    fn server(&self) -> ServerId {
        ServerId(u8::try_from(self.num("s")).expect("a server id"))
    }
}

/// The script's world: the cluster and the clients it opened.
#[derive(Default)]
struct World {
    cluster: Option<Cluster>,
    /// One client per server it wrote through, with its next cxid.
    clients: BTreeMap<ServerId, (ClientId, u64)>,
}

impl World {
    /// Runs one command; returns what it printed.
    fn run(&mut self, c: &Command) -> String {
        if c.name == "boot" {
            let n = u8::try_from(c.num("n")).expect("a server count");
            self.cluster = Some(Cluster::boot(n, &[], 1000));
        } else {
            self.cluster.as_mut().expect("boot first").log.clear();
        }
        let World { cluster, clients } = self;
        let cl = cluster.as_mut().expect("boot first");
        match c.name.as_str() {
            "boot" => {}
            "run" => cl.run_for(c.num("ms") * 1000),
            "isolate" => {
                cl.isolate(c.server());
                cl.flush();
            }
            "heal" => {
                cl.heal(c.server());
                cl.flush();
            }
            "crash" => {
                cl.crash(c.server());
                cl.flush();
            }
            "restart" => {
                cl.restart(c.server());
                cl.flush();
            }
            "write" => {
                let server = c.server();
                let next = ClientId(100 + u32::from(server.0));
                let (client, cxid) = clients.entry(server).or_insert_with(|| {
                    connect(cl, next, server);
                    (next, 1)
                });
                let path = c.args.get("path").expect("write: path=");
                let op = create(path, CreateMode::Persistent);
                cl.log.clear();
                cl.send(
                    *client,
                    server,
                    crate::message::Message::ClientRequest { cxid: *cxid, op },
                );
                *cxid += 1;
                cl.take(*client);
            }
            "state" => {
                let mut s = String::new();
                for (id, server) in &cl.servers {
                    let _ = writeln!(
                        s,
                        "{id} {} {} acceptedEpoch {} currentEpoch {} last {} delivered {}",
                        server.state().name(),
                        server.phase().name(),
                        server.accepted_epoch(),
                        server.current_epoch(),
                        server.last_processed_zxid(),
                        server.delivered()
                    );
                }
                return s;
            }
            other => panic!("unknown command {other}"),
        }
        let events_only = c.args.get("show").is_some_and(|v| v == "events");
        let mut s = String::new();
        for l in &cl.log {
            if events_only && (l.contains(" -> ") || l.contains(" disk ")) {
                continue;
            }
            let _ = writeln!(s, "{l}");
        }
        s
    }
}

/// Runs a script file: compares each command's output with the file's, or writes the file
/// anew with `ZABSIM_REWRITE` set.
fn run_file(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/steps")
        .join(name);
    let rewrite = std::env::var_os("ZABSIM_REWRITE").is_some();
    if let Err(e) = run_path(&path, rewrite) {
        panic!("{name} (ZABSIM_REWRITE=1 rewrites it):\n{e}");
    }
}

/// Runs the script at `path`; with `rewrite`, writes it anew with what the commands printed,
/// else returns every case whose output differs.
fn run_path(path: &std::path::Path, rewrite: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).expect("the script is readable");
    let mut world = World::default();
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim().is_empty() || l.starts_with('#') {
            rewritten.push_str(l);
            rewritten.push('\n');
            continue;
        }
        assert_eq!(
            lines.next(),
            Some("----"),
            "{}: `----` after {l}",
            path.display()
        );
        let mut expected = String::new();
        while let Some(e) = lines.peek() {
            if e.is_empty() {
                break;
            }
            expected.push_str(e);
            expected.push('\n');
            lines.next();
        }
        let actual = world.run(&Command::parse(l));
        if actual != expected {
            failures.push(format!("{l}\n--- expected\n{expected}--- got\n{actual}"));
        }
        rewritten.push_str(&format!("{l}\n----\n{actual}"));
    }
    if rewrite {
        std::fs::write(path, rewritten).expect("the script is writable");
        return Ok(());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

#[test]
fn election_steps() {
    run_file("election.txt");
}

#[test]
fn broadcast_steps() {
    run_file("broadcast.txt");
}

#[test]
fn recovery_steps() {
    run_file("recovery.txt");
}

/// A script whose recorded output no longer matches fails, showing both; rewritten, it
/// passes.
#[test]
fn a_changed_output_fails_until_rewritten() {
    let path = std::env::temp_dir().join(format!("zabsim-steps-{}.txt", std::process::id()));
    let script = "boot n=3\n----\n\nrun ms=2000 show=events\n----\n\nstate\n----\n\
                  s1 FOLLOWING BROADCAST acceptedEpoch 9 currentEpoch 9 last 0:0 delivered 0\n";
    std::fs::write(&path, script).expect("writable");
    let err = run_path(&path, false).expect_err("the recorded state is wrong");
    assert!(
        err.contains("state\n--- expected\ns1 FOLLOWING BROADCAST acceptedEpoch 9"),
        "{err}"
    );
    assert!(
        err.contains("--- got\ns1 FOLLOWING BROADCAST acceptedEpoch 1"),
        "{err}"
    );
    run_path(&path, true).expect("rewrites");
    let again = run_path(&path, false);
    let _ = std::fs::remove_file(&path);
    assert_eq!(again, Ok(()));
}
