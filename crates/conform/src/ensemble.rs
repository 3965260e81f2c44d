//! A running ensemble: its files, processes and proxies, the faults, and what was observed.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fourlw::{self, Mode, Srvr};
use crate::install::Install;
use crate::logparse::{self, LogEvent};
use crate::process::{self, Reap};
use crate::proxy::{FiredPacket, Net, PacketRecord, TriggerAction, TriggerSpec};
use crate::spec::{self, EnsembleSpec, Layout, MAX_ID};
use crate::txnlog::{self, TxnRecord};

/// Set to 1 to keep every run directory (for reading the servers' logs after a failure).
pub const KEEP_ENV: &str = "ZABSIM_CONFORM_KEEP";

/// How long one `srvr` query may take.
const SRVR_TIMEOUT: Duration = Duration::from_millis(500);

/// A real ZooKeeper ensemble on loopback. Dropping it kills every server it started and
/// removes its run directory (unless [`Control::keep_run_dir`] was called).
///
/// All fault and observation methods live on [`Control`], which the ensemble dereferences to;
/// a trigger's callback gets a `&Control` too, so it can crash or cut from inside the proxy.
pub struct Ensemble {
    control: Control,
}

/// The handle that starts, crashes, pauses and cuts servers, and observes them. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

struct Shared {
    install: Install,
    spec: EnsembleSpec,
    layout: Layout,
    run_dir: PathBuf,
    net: Arc<Net>,
    procs: Mutex<BTreeMap<u64, Child>>,
    /// Crashed servers' processes, killed and not yet waited for: a JVM takes tens of ms to
    /// go, and a crash must not hold up the next fault (two crashes due at the same moment
    /// must happen together, as they do in the simulator).
    dying: Mutex<BTreeMap<u64, Child>>,
    keep: AtomicBool,
    reaped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ensemble {
    /// Writes a fresh run directory for `spec` and starts the proxies; no server runs yet
    /// (see [`Control::start`], [`Control::start_all`]).
    pub fn create(install: Install, spec: EnsembleSpec) -> Result<Ensemble> {
        spec.validate()?;
        let ids = spec.all_ids();
        let max_id = ids.iter().copied().max().unwrap_or(1);
        let layout = match spec.base_port {
            Some(base) => Layout { base },
            None => Layout {
                base: free_block(max_id)?,
            },
        };
        let run_dir = fresh_run_dir()?;
        let result = write_files(&spec, &layout, &run_dir).and_then(|_| Net::start(layout, &ids));
        let net = match result {
            Ok(net) => net,
            Err(e) => {
                let _ = fs::remove_dir_all(&run_dir);
                return Err(e);
            }
        };
        let shared = Arc::new(Shared {
            install,
            spec,
            layout,
            run_dir,
            net,
            procs: Mutex::new(BTreeMap::new()),
            dying: Mutex::new(BTreeMap::new()),
            keep: AtomicBool::new(std::env::var_os(KEEP_ENV).is_some_and(|v| v == "1")),
            reaped: AtomicBool::new(false),
        });
        let reaper: Arc<dyn Reap> = shared.clone();
        process::register(&reaper);
        Ok(Ensemble {
            control: Control { shared },
        })
    }

    /// [`Ensemble::create`] then [`Control::start_all`].
    pub fn start(install: Install, spec: EnsembleSpec) -> Result<Ensemble> {
        let e = Ensemble::create(install, spec)?;
        e.start_all()?;
        Ok(e)
    }

    /// A handle that can be moved into threads and callbacks.
    pub fn control(&self) -> Control {
        self.control.clone()
    }
}

impl Deref for Ensemble {
    type Target = Control;
    fn deref(&self) -> &Control {
        &self.control
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        self.control.shared.reap();
    }
}

impl Reap for Shared {
    fn reap(&self) {
        self.reaped.store(true, Ordering::SeqCst);
        let mut procs = lock(&self.procs);
        for (_, mut child) in std::mem::take(&mut *procs) {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(procs);
        for (_, mut child) in std::mem::take(&mut *lock(&self.dying)) {
            let _ = child.wait();
        }
        self.net.stop();
        if !self.keep.load(Ordering::SeqCst) {
            let _ = fs::remove_dir_all(&self.run_dir);
        }
    }
}

impl Control {
    /// The spec.
    pub fn spec(&self) -> &EnsembleSpec {
        &self.shared.spec
    }

    /// The address plan.
    pub fn layout(&self) -> Layout {
        self.shared.layout
    }

    /// Every server's client address, `(id, address)`, participants first (what a
    /// ZooKeeper client's connect string lists).
    pub fn client_addrs(&self) -> Vec<(u64, SocketAddr)> {
        self.shared
            .spec
            .all_ids()
            .into_iter()
            .map(|id| (id, SocketAddr::V4(self.shared.layout.client(id))))
            .collect()
    }

    /// The run directory (one `s<id>/` per server).
    pub fn run_dir(&self) -> &Path {
        &self.shared.run_dir
    }

    /// Server `id`'s directory.
    pub fn server_dir(&self, id: u64) -> PathBuf {
        self.shared.run_dir.join(format!("s{id}"))
    }

    /// Keep the run directory when the ensemble is dropped (for looking at logs).
    pub fn keep_run_dir(&self) {
        self.shared.keep.store(true, Ordering::SeqCst);
    }

    fn check_id(&self, id: u64) -> Result<()> {
        if self.shared.spec.all_ids().contains(&id) {
            Ok(())
        } else {
            Err(Error::new(format!("server {id} is not in this ensemble")))
        }
    }

    /// Starts every server that is not running: the highest id first, the others once it
    /// answers on its client port.
    ///
    /// A JVM takes about a second to start and the spread is hundreds of milliseconds, more
    /// than FastLeaderElection's 200 ms finalize wait, so servers started together could let
    /// two lower ids settle on a leader before the highest one is up. Waiting until the
    /// highest id is up (and so looking for a leader) gives what a simultaneous start of
    /// servers with equal histories gives in theory: the highest id leads.
    pub fn start_all(&self) -> Result<()> {
        let mut ids = self.shared.spec.all_ids();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        self.start_in_order(&ids)
    }

    /// Starts the servers in `order` that are not running: the first, then the others
    /// together once it answers. [`Control::start_all`] puts the highest id first; a
    /// scenario whose servers start from different histories puts the one FastLeaderElection
    /// prefers first, for the same reason.
    pub fn start_in_order(&self, order: &[u64]) -> Result<()> {
        let ids: Vec<u64> = order
            .iter()
            .copied()
            .filter(|id| !self.is_running(*id))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            self.start(*id)?;
            if i == 0 && ids.len() > 1 {
                self.wait_until_up(*id, Duration::from_secs(20))?;
            }
        }
        Ok(())
    }

    /// Waits until server `id` answers `srvr` at all (serving or not).
    pub fn wait_until_up(&self, id: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.srvr(id).is_ok() {
                return Ok(());
            }
            if !self.is_running(id) {
                return Err(Error::new(format!(
                    "server {id} exited while starting; see {}/stderr and server.log",
                    self.server_dir(id).display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "server {id} did not answer on its client port within {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts server `id` on its data directory (also how a crashed server is restarted).
    pub fn start(&self, id: u64) -> Result<()> {
        self.check_id(id)?;
        if self.shared.reaped.load(Ordering::SeqCst) {
            return Err(Error::new("the ensemble has been dropped"));
        }
        let mut procs = lock(&self.shared.procs);
        if procs.contains_key(&id) {
            return Err(Error::new(format!("server {id} is already running")));
        }
        // A crashed incarnation must be gone before a new one opens its files and ports.
        if let Some(mut old) = lock(&self.shared.dying).remove(&id) {
            old.wait()
                .map_err(|e| Error::io(format!("waiting for server {id}"), e))?;
        }
        let dir = self.server_dir(id);
        let open = |name: &str| -> Result<File> {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(|e| Error::io(format!("opening {}/{name}", dir.display()), e))
        };
        let mut cmd = Command::new(&self.shared.install.java);
        cmd.current_dir(&dir)
            .arg("-Xmx256m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg("-Duser.timezone=UTC")
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                dir.join("log4j.properties").display()
            ))
            .arg(format!(
                "-Dlogback.configurationFile={}",
                dir.join("logback.xml").display()
            ))
            .arg("-Dzookeeper.jmx.log4j.disable=true")
            // Retry binding the election port forever: a restarted server may find its port
            // still held for a moment (QuorumCnxManager.java:1068).
            .arg("-Dzookeeper.electionPortBindRetry=0")
            .arg("-cp")
            .arg(self.shared.install.classpath_arg())
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(open("stdout")?)
            .stderr(open("stderr")?);
        self.shared.net.revive(id);
        let child = process::spawn(cmd)?;
        procs.insert(id, child);
        Ok(())
    }

    /// Same as [`Control::start`]: a restart is a start on the existing data directory.
    pub fn restart(&self, id: u64) -> Result<()> {
        self.start(id)
    }

    /// Whether the harness has a live process for `id` (paused counts as running).
    pub fn is_running(&self, id: u64) -> bool {
        let mut procs = lock(&self.shared.procs);
        match procs.get_mut(&id) {
            None => false,
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                _ => {
                    procs.remove(&id);
                    false
                }
            },
        }
    }

    /// SIGKILL, and everything it wrote that the proxies have not forwarded yet is lost.
    pub fn crash(&self, id: u64) -> Result<()> {
        self.check_id(id)?;
        let mut procs = lock(&self.shared.procs);
        let Some(mut child) = procs.remove(&id) else {
            return Err(Error::new(format!("server {id} is not running")));
        };
        self.shared.net.silence(id);
        let killed = child.kill();
        // Waited for when it restarts or the ensemble is dropped, killed or not.
        lock(&self.shared.dying).insert(id, child);
        killed.map_err(|e| Error::io(format!("killing server {id}"), e))
    }

    /// SIGSTOP: the process freezes with its sockets open.
    pub fn pause(&self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGSTOP)
    }

    /// SIGCONT.
    pub fn resume(&self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGCONT)
    }

    fn signal(&self, id: u64, sig: libc::c_int) -> Result<()> {
        self.check_id(id)?;
        let procs = lock(&self.shared.procs);
        let child = procs
            .get(&id)
            .ok_or_else(|| Error::new(format!("server {id} is not running")))?;
        process::signal(child.id(), sig)
    }

    /// Cuts `from → to` only: bytes `from` sends to `to` are dropped, replies still flow.
    pub fn cut_one_way(&self, from: u64, to: u64) {
        self.shared.net.cut(from, to);
    }

    /// Cuts both ways between `a` and `b`.
    pub fn cut(&self, a: u64, b: u64) {
        self.shared.net.cut(a, b);
        self.shared.net.cut(b, a);
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&self, side_a: &[u64], side_b: &[u64]) {
        for &a in side_a {
            for &b in side_b {
                self.cut(a, b);
            }
        }
    }

    /// Cuts `id` off from every other server.
    pub fn isolate(&self, id: u64) {
        let others: Vec<u64> = self
            .shared
            .spec
            .all_ids()
            .into_iter()
            .filter(|o| *o != id)
            .collect();
        self.partition(&[id], &others);
    }

    /// Heals `from → to` (connections that lost bytes are closed; see [`Net::heal`]).
    pub fn heal_one_way(&self, from: u64, to: u64) {
        self.shared.net.heal(from, to);
    }

    /// Heals both ways between `a` and `b`.
    pub fn heal(&self, a: u64, b: u64) {
        self.shared.net.heal(a, b);
        self.shared.net.heal(b, a);
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        self.shared.net.heal_all();
    }

    /// Breaks connections between servers at random from now until `until_ms` (ms since
    /// the Unix epoch), each packet with chance `chance`: the `[network] reset` of a
    /// scenario. Client connections do not go through the proxies and are never broken.
    pub fn set_resets(&self, chance: f64, until_ms: i64, seed: u64) {
        self.shared.net.set_resets(chance, until_ms, seed);
    }

    /// Whether some learner is connected to `id` through the proxies, that is, `id` leads or
    /// is becoming leader. Instant, unlike asking the servers with `srvr`.
    pub fn has_learners(&self, id: u64) -> bool {
        self.shared.net.has_learners(id)
    }

    /// Runs `callback` when `spec`'s packet passes the proxy, before it is forwarded, with
    /// every other connection held until it returns. The callback must not call
    /// [`Control::on_packet`] or [`Control::packet_log`] (they need the lock it runs under);
    /// crashing, pausing, cutting and healing are fine.
    pub fn on_packet(
        &self,
        spec: TriggerSpec,
        callback: impl FnOnce(&FiredPacket, &Control) -> TriggerAction + Send + 'static,
    ) {
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        self.shared.net.add_trigger(
            spec,
            Box::new(move |packet| match weak.upgrade() {
                Some(shared) => callback(packet, &Control { shared }),
                None => TriggerAction::Forward,
            }),
        );
    }

    /// Every quorum packet the proxies saw, in the order they decided on them.
    pub fn packet_log(&self) -> Vec<PacketRecord> {
        self.shared.net.packet_log()
    }

    /// `srvr` from server `id`.
    pub fn srvr(&self, id: u64) -> Result<Srvr> {
        self.check_id(id)?;
        fourlw::srvr(SocketAddr::V4(self.shared.layout.client(id)), SRVR_TIMEOUT)
    }

    /// `srvr` from every server; `None` where it did not answer.
    pub fn statuses(&self) -> BTreeMap<u64, Option<Srvr>> {
        self.shared
            .spec
            .all_ids()
            .into_iter()
            .map(|id| (id, self.srvr(id).ok()))
            .collect()
    }

    /// Polls [`Control::statuses`] until `pred` holds; the error describes the last poll.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&BTreeMap<u64, Option<Srvr>>) -> bool,
    ) -> Result<BTreeMap<u64, Option<Srvr>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.statuses();
            if pred(&st) {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "condition not reached within {timeout:?}; last srvr poll: {}",
                    describe(&st)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `(acceptedEpoch, currentEpoch)` from server `id`'s data directory (None: no file yet).
    pub fn epochs(&self, id: u64) -> (Option<u64>, Option<u64>) {
        let dir = self.server_dir(id).join("data/version-2");
        let read = |name: &str| {
            fs::read_to_string(dir.join(name))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        (read("acceptedEpoch"), read("currentEpoch"))
    }

    /// The transactions in server `id`'s logs.
    pub fn txn_log(&self, id: u64) -> Result<Vec<TxnRecord>> {
        txnlog::read_dir(&self.server_dir(id).join("data/version-2"))
    }

    /// The zxids in the names of server `id`'s snapshot files (`snapshot.<hex zxid>`),
    /// ascending. A server that was never sent a SNAP and took no periodic snapshot has only
    /// `snapshot.0`, the empty tree it wrote at its first start.
    pub fn snapshots(&self, id: u64) -> Vec<i64> {
        let dir = self.server_dir(id).join("data/version-2");
        let mut zxids: Vec<i64> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_str()?.to_string();
                        i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        zxids.sort_unstable();
        zxids
    }

    /// The tracked events in server `id`'s log.
    pub fn events(&self, id: u64) -> Vec<LogEvent> {
        let text = fs::read(self.server_dir(id).join("server.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        logparse::parse_log(id, &text, Some(&self.shared.layout))
    }

    /// Everything observable now.
    pub fn outcome(&self) -> Outcome {
        let statuses = self.statuses();
        let mut servers = BTreeMap::new();
        let mut events = Vec::new();
        for (id, srvr) in statuses {
            let (accepted_epoch, current_epoch) = self.epochs(id);
            let (txns, txn_error) = match self.txn_log(id) {
                Ok(t) => (t, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            events.extend(self.events(id));
            servers.insert(
                id,
                ServerOutcome {
                    id,
                    running: self.is_running(id),
                    srvr,
                    accepted_epoch,
                    current_epoch,
                    txns,
                    txn_error,
                    snapshots: self.snapshots(id),
                },
            );
        }
        events.sort_by_key(|e| e.time_ms);
        let leaders: Vec<&ServerOutcome> = servers
            .values()
            .filter(|s| {
                s.srvr
                    .as_ref()
                    .is_some_and(|v| v.mode == Some(Mode::Leader))
            })
            .collect();
        let (leader, leader_epoch) = match leaders.as_slice() {
            [one] => (Some(one.id), one.srvr.as_ref().and_then(Srvr::epoch)),
            _ => (None, None),
        };
        Outcome {
            leader,
            leader_epoch,
            servers,
            events,
            packets: self.packet_log(),
        }
    }
}

/// One server's observable state.
#[derive(Debug, Clone)]
pub struct ServerOutcome {
    /// Its id.
    pub id: u64,
    /// Whether its process is alive.
    pub running: bool,
    /// Its `srvr` answer, if it answered.
    pub srvr: Option<Srvr>,
    /// `version-2/acceptedEpoch`.
    pub accepted_epoch: Option<u64>,
    /// `version-2/currentEpoch`.
    pub current_epoch: Option<u64>,
    /// Its transaction logs' records.
    pub txns: Vec<TxnRecord>,
    /// Why the logs could not be read, if they could not.
    pub txn_error: Option<String>,
    /// The zxids its snapshot files are named after, ascending.
    pub snapshots: Vec<i64>,
}

/// What the ensemble looks like: roles, epochs, histories, and how it got there.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The one server answering "Mode: leader", if exactly one does.
    pub leader: Option<u64>,
    /// Its epoch (high 32 bits of its last zxid).
    pub leader_epoch: Option<u32>,
    /// Per server.
    pub servers: BTreeMap<u64, ServerOutcome>,
    /// Every server's tracked log events, by time.
    pub events: Vec<LogEvent>,
    /// Every quorum packet the proxies saw.
    pub packets: Vec<PacketRecord>,
}

/// A one-line summary of a poll, for error messages.
pub fn describe(st: &BTreeMap<u64, Option<Srvr>>) -> String {
    let parts: Vec<String> = st
        .iter()
        .map(|(id, s)| match s {
            None => format!("{id}: no answer"),
            Some(s) if !s.serving => format!("{id}: not serving"),
            Some(s) => format!(
                "{id}: {:?} zxid {:#x}",
                s.mode.unwrap_or(Mode::Standalone),
                s.zxid.unwrap_or(0)
            ),
        })
        .collect();
    parts.join(", ")
}

fn write_files(spec: &EnsembleSpec, layout: &Layout, run_dir: &Path) -> Result<()> {
    for id in spec.all_ids() {
        let dir = run_dir.join(format!("s{id}"));
        let data = dir.join("data");
        fs::create_dir_all(&data)
            .map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
        let log = dir.join("server.log");
        let files = [
            (dir.join("zoo.cfg"), spec::zoo_cfg(spec, layout, id, &data)),
            (data.join("myid"), format!("{id}\n")),
            (dir.join("log4j.properties"), spec::log4j_properties(&log)),
            (dir.join("logback.xml"), spec::logback_xml(&log)),
        ];
        for (path, text) in files {
            fs::write(&path, text)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// A new, empty directory under the system temp dir, named for this process.
fn fresh_run_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "zabsim-conform-{}-{n}-{nanos:x}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

/// A port block whose ports are all free now. Blocks sit below Linux's ephemeral range
/// (32768+) so outgoing connections do not take them; each process starts at a different
/// block so parallel harnesses rarely collide.
fn free_block(max_id: u64) -> Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    const BLOCK: u32 = 600;
    const BLOCKS: u32 = 36; // 10000..31600
    if max_id > MAX_ID {
        return Err(Error::new(format!(
            "server ids above {MAX_ID} are not supported"
        )));
    }
    let span = Layout::span(max_id) as u32;
    let offset = std::process::id() % BLOCKS;
    for _ in 0..BLOCKS {
        let k = (NEXT.fetch_add(1, Ordering::SeqCst) + offset) % BLOCKS;
        let base = FIRST + k * BLOCK;
        let free = (base..base + span).all(|p| TcpListener::bind(("0.0.0.0", p as u16)).is_ok());
        if free {
            return Ok(base as u16);
        }
    }
    Err(Error::new("no free block of ports between 10000 and 31600"))
}
