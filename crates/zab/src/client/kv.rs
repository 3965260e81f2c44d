//! Random reads and writes of a handful of keys, the workload behind the linearizability and
//! session-order checks.
//!
//! Each write stores a value unique to this client and write, so a checker can tell which
//! write a read saw. One write in four is pipelined with a read of the same key, without
//! waiting for the write's answer: a server that answers that read before it has applied the
//! session's own write (stale-read-own-write) shows itself there.

use super::app::{Ctx, Notice, ProgramSettings};
use crate::client_api::{ClientOp, CreateMode, KeeperError, OpResult};
use crate::path::Path;
use rand::Rng;

/// Keys /kv-0 .. /kv-7.
pub const KEYS: u32 = 8;

/// What an in-flight op was for, to know the follow-up its answer calls for.
#[derive(Clone, Debug, PartialEq)]
enum KvOp {
    Write { path: Path, data: u64 },
    Create { path: Path, data: u64 },
    Read,
}

#[derive(Clone, Debug)]
pub struct Kv {
    think_ms: (u64, u64),
    write_ratio: f64,
    budget: u32,
    index: u32,
    issued: u32,
    writes: u64,
    /// By op number; at most two at a time (a write and its pipelined read), so a list.
    in_flight: Vec<(u64, KvOp)>,
    /// The keys' paths, made once: every operation names one.
    paths: Vec<Path>,
    /// A think timer is pending.
    thinking: bool,
    expired: bool,
}

impl Kv {
    pub fn new(settings: &ProgramSettings) -> Kv {
        Kv {
            think_ms: settings.think_ms,
            write_ratio: settings.write_ratio.clamp(0.0, 1.0),
            budget: settings.ops,
            index: settings.index,
            issued: 0,
            writes: 0,
            in_flight: Vec::new(),
            paths: (0..KEYS).map(|k| Path::from(format!("/kv-{k}"))).collect(),
            thinking: false,
            expired: false,
        }
    }

    pub fn done(&self) -> bool {
        self.expired || (self.issued >= self.budget && self.in_flight.is_empty())
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        match notice {
            Notice::Connected => self.idle(ctx),
            Notice::Expired => self.expired = true,
            Notice::Timer => {
                self.thinking = false;
                // While disconnected, wait for the connection rather than queue up ops.
                if ctx.connected && self.in_flight.is_empty() && !self.done() {
                    self.issue(ctx);
                }
            }
            Notice::Answer { op, result } => {
                let i = self.in_flight.iter().position(|(o, _)| *o == op);
                if let Some((_, kind)) = i.map(|i| self.in_flight.remove(i)) {
                    self.answered(kind, &result, ctx);
                    self.idle(ctx);
                }
            }
            Notice::Disconnected | Notice::Watch(_) => {}
        }
    }

    /// With nothing in flight, think before the next operation.
    fn idle(&mut self, ctx: &mut Ctx) {
        if self.in_flight.is_empty() && !self.thinking && !self.done() && ctx.connected {
            self.thinking = true;
            ctx.think(self.think_ms);
        }
    }

    fn issue(&mut self, ctx: &mut Ctx) {
        let key = ctx.rng().gen_range(0..KEYS);
        let path = self.paths[key as usize].clone();
        let write = ctx.rng().gen_bool(self.write_ratio);
        if write {
            self.writes += 1;
            let data = (u64::from(self.index) << 32) | self.writes;
            self.write(path.clone(), data, ctx);
            self.issued += 1;
            if self.issued < self.budget && ctx.rng().gen_range(0..4) == 0 {
                self.read(path, ctx);
            }
        } else {
            self.read(path, ctx);
        }
    }

    fn read(&mut self, path: Path, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::GetData { path, watch: false });
        self.in_flight.push((op, KvOp::Read));
        self.issued += 1;
    }

    fn write(&mut self, path: Path, data: u64, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::SetData {
            path: path.clone(),
            data,
            version: -1,
        });
        self.in_flight.push((op, KvOp::Write { path, data }));
    }

    /// A write of a missing key creates it; a create that lost the race writes instead. Both
    /// are the same logical write. A write whose connection was lost is left as it is: it may
    /// or may not have happened, and ZooKeeper leaves that to the application.
    fn answered(&mut self, kind: KvOp, result: &OpResult, ctx: &mut Ctx) {
        match (kind, result) {
            (KvOp::Write { path, data }, Err(KeeperError::NoNode)) => {
                let op = ctx.submit(ClientOp::Create {
                    path: path.clone(),
                    data,
                    mode: CreateMode::Persistent,
                });
                self.in_flight.push((op, KvOp::Create { path, data }));
            }
            (KvOp::Create { path, data }, Err(KeeperError::NodeExists)) => {
                self.write(path, data, ctx)
            }
            _ => {}
        }
    }
}
