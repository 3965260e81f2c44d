//! One server's disk: a durable image plus the writes still waiting for their fsync.
//!
//! Writes to the same file complete in issue order; a crash discards every write that has not
//! completed, which is exactly what a real crash loses.

use std::collections::VecDeque;
use zab::{DiskFile, DiskImage, DiskOp};

#[derive(Default)]
pub struct Disk {
    pub image: DiskImage,
    /// Issued, not yet durable, in issue order (write ids ascend within an incarnation); a
    /// write that completes before earlier ones leaves a hole until they complete too.
    pending: VecDeque<(u64, Option<DiskOp>)>,
    /// When the last write to each file completes.
    last_done: Vec<(DiskFile, u64)>,
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
        let done = match self.last_done.iter_mut().find(|(f, _)| *f == file) {
            Some((_, last)) => {
                *last = (now + latency).max(*last);
                *last
            }
            None => {
                self.last_done.push((file, now + latency));
                now + latency
            }
        };
        debug_assert!(self.pending.back().is_none_or(|(last, _)| *last < id));
        self.pending.push_back((id, Some(op)));
        done
    }

    /// Makes a write durable; returns it.
    pub fn complete(&mut self, id: u64) -> Option<DiskOp> {
        let i = self.pending.binary_search_by_key(&id, |(w, _)| *w).ok()?;
        let op = self.pending[i].1.take()?;
        while self.pending.front().is_some_and(|(_, op)| op.is_none()) {
            self.pending.pop_front();
        }
        self.image.apply(&op);
        Some(op)
    }

    /// The writes not yet durable, in issue order.
    pub fn unflushed(&self) -> impl Iterator<Item = &DiskOp> {
        self.pending.iter().filter_map(|(_, op)| op.as_ref())
    }

    /// A crash: whatever is not durable is gone.
    pub fn crash(&mut self) {
        self.pending.clear();
        self.last_done.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::{Txn, Zxid};

    fn append(c: u64) -> DiskOp {
        DiskOp::Append(Txn::initial(Zxid::new(1, c)))
    }

    #[test]
    fn writes_to_one_file_complete_in_order_and_holes_close() {
        let mut d = Disk::default();
        assert_eq!(d.issue(0, 1, append(1), 5), 5);
        assert_eq!(d.issue(1, 2, DiskOp::CurrentEpoch(1), 1), 2);
        assert_eq!(d.issue(2, 3, append(2), 1), 5, "behind the first append");
        assert_eq!(d.unflushed().count(), 3);
        assert_eq!(d.complete(2), Some(DiskOp::CurrentEpoch(1)));
        assert_eq!(d.complete(2), None, "once");
        assert_eq!(d.unflushed().count(), 2);
        assert_eq!(d.complete(1), Some(append(1)));
        assert_eq!(d.unflushed().collect::<Vec<_>>(), [&append(2)]);
        assert_eq!(d.image.current_epoch, 1);
        assert_eq!(d.image.log.len(), 1);
        d.crash();
        assert_eq!(d.complete(3), None, "lost in the crash");
        assert_eq!(d.image.log.len(), 1);
    }
}
