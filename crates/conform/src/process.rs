//! Starting, signalling and always reaping the server JVMs.
//!
//! Three layers make sure nothing outlives the harness:
//! * every [`crate::Ensemble`] kills its processes in `Drop`, which also runs while a panic
//!   unwinds;
//! * [`install_interrupt_handler`] kills every live ensemble's processes on Ctrl-C;
//! * each JVM is started with `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it if the
//!   harness dies without running either of the above (SIGKILL, abort). The death signal
//!   follows the *thread* that forked, not the process, so all children are forked by one
//!   spawner thread that lives as long as the process.
//!
//! The JVMs also get their own process group, so a terminal's Ctrl-C reaches only the harness,
//! which then kills them itself in a known order.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{Error, Result};

type SpawnReply = mpsc::Sender<std::io::Result<Child>>;

/// The spawner thread's inbox.
fn spawner() -> &'static Mutex<mpsc::Sender<(Command, SpawnReply)>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<(Command, SpawnReply)>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Command, SpawnReply)>();
        std::thread::Builder::new()
            .name("conform-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(tx)
    })
}

/// Starts `cmd` from the spawner thread, with the parent-death signal and its own process group.
pub fn spawn(mut cmd: Command) -> Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the harness exited while starting"));
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| Error::new("the spawner lock is poisoned"))?
        .send((cmd, tx))
        .map_err(|_| Error::new("the spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| Error::new("the spawner thread dropped the request"))?
        .map_err(|e| Error::io("starting java", e))
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) -> Result<()> {
    // SAFETY: kill(2) with a pid we started and have not yet reaped.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::io(
            format!("sending signal {signal} to process {pid}"),
            std::io::Error::last_os_error(),
        ))
    }
}

/// Something that can kill everything it started and remove its files.
pub trait Reap: Send + Sync {
    /// Kills every process, waits for them, removes files unless told to keep them.
    fn reap(&self);
}

fn registry() -> &'static Mutex<Vec<Weak<dyn Reap>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Weak<dyn Reap>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a live ensemble for [`reap_all`].
pub fn register(r: &Arc<dyn Reap>) {
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    reg.retain(|w| w.strong_count() > 0);
    reg.push(Arc::downgrade(r));
}

/// Kills and cleans every live ensemble of this process.
pub fn reap_all() {
    let live: Vec<Arc<dyn Reap>> = {
        let reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        reg.iter().filter_map(Weak::upgrade).collect()
    };
    for r in live {
        r.reap();
    }
}

/// Installs a Ctrl-C (SIGINT/SIGTERM) handler that kills and cleans every live ensemble, then
/// exits with status 130. Call it once, early, from a program (not from a library or test).
pub fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("conform: interrupted; stopping every ZooKeeper server started here");
        reap_all();
        std::process::exit(130);
    })
    .map_err(|e| Error::new(format!("installing the Ctrl-C handler: {e}")))
}

/// Process ids whose command line mentions `needle` (e.g. a run directory): for checking that
/// nothing was left running.
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.as_os_str().as_encoded_bytes();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            out.push(pid);
        }
    }
    out
}
