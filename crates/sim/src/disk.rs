//! One server's disk: a durable image plus the writes still waiting for their fsync.
//!
//! Writes to the same file complete in issue order; a crash discards every write that has not
//! completed, which is exactly what a real crash loses.

use std::collections::BTreeMap;
use zab::{DiskFile, DiskImage, DiskOp};

#[derive(Default)]
pub struct Disk {
    pub image: DiskImage,
    /// Issued, not yet durable: write id → op, in issue order.
    pub pending: BTreeMap<u64, DiskOp>,
    /// When the last write to each file completes.
    last_done: BTreeMap<DiskFile, u64>,
}

impl Disk {
    pub fn new(image: DiskImage) -> Disk {
        Disk {
            image,
            ..Disk::default()
        }
    }

    /// Queues a write; returns when it becomes durable.
    pub fn issue(&mut self, now: u64, id: u64, op: DiskOp, latency: u64) -> u64 {
        let file = op.file();
        let done = (now + latency).max(self.last_done.get(&file).copied().unwrap_or(0));
        self.last_done.insert(file, done);
        self.pending.insert(id, op);
        done
    }

    /// Makes a write durable; returns it.
    pub fn complete(&mut self, id: u64) -> Option<DiskOp> {
        let op = self.pending.remove(&id)?;
        self.image.apply(&op);
        Some(op)
    }

    /// A crash: whatever is not durable is gone.
    pub fn crash(&mut self) {
        self.pending.clear();
        self.last_done.clear();
    }
}
