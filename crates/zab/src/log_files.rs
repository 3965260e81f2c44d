//! The txn log as ZooKeeper lays it out on disk: a sequence of `log.<zxid>` files, each named
//! after its first txn and preallocated in 64 MiB steps. A leader falls back on these files
//! when a learner is behind its committedLog (`ZKDatabase.getProposalsFromTxnLog`), and it
//! gives up on them, sending SNAP instead, when the files it would read past are larger than
//! a third of its newest snapshot. Which file a txn sits in therefore decides DIFF or SNAP, and
//! so the file boundaries are modelled; the byte sizes are estimates (see docs/fidelity.md).

use crate::db::{Snapshot, Txn, TxnOp};
use crate::ids::Zxid;

/// One txn log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFile {
    /// The zxid in its name: the first txn appended to it.
    pub first: Zxid,
    /// Cut short by a TRUNC: `FileTxnLog.truncate` sets its length to the truncation point
    /// (FileTxnLog.java:456-476 / 481-501), so it is no longer padded.
    pub truncated: bool,
}

/// `FilePadding.preAllocSize` (FilePadding.java:30): 65536 KiB unless `zookeeper.preAllocSize`
/// says otherwise.
const PRE_ALLOC_SIZE: u64 = 65536 * 1024;

/// `ZKDatabase.DEFAULT_SNAPSHOT_SIZE_FACTOR` (ZKDatabase.java:87 / 92): the txn log is read
/// only while what it would read is at most this share of the newest snapshot.
const SNAPSHOT_SIZE_FACTOR: f64 = 0.33;

/// `FileHeader` (magic, version, dbid).
const FILE_HEADER_LEN: u64 = 16;

/// A TRUNC: the file holding `zxid` is cut after it and every later file deleted
/// (`FileTxnLog.truncate`).
pub(crate) fn truncate(files: &mut Vec<LogFile>, zxid: Zxid) {
    let keep = files.partition_point(|f| f.first <= zxid).max(1);
    files.truncate(keep);
    if let Some(last) = files.last_mut() {
        last.truncated = true;
    }
}

/// `FilePadding.calculateFileSizeWithPadding` (FilePadding.java:96-113 / 101-118), called
/// before every append with the position
/// the record will be written at.
fn padded(position: u64, size: u64) -> u64 {
    if position + 4096 >= size {
        if position > size {
            let s = position + PRE_ALLOC_SIZE;
            s - s % PRE_ALLOC_SIZE
        } else {
            size + PRE_ALLOC_SIZE
        }
    } else {
        size
    }
}

/// Bytes of one log record (`FileTxnLog.append`): checksum 8, length 4, TxnHeader 32, the
/// digest 12 and the end-of-record byte, plus the txn record, estimated from its fields.
fn record_len(txn: &Txn) -> u64 {
    let body = match &txn.op {
        TxnOp::Initial | TxnOp::CloseSession { .. } => 0,
        TxnOp::CreateSession { .. } => 4,
        TxnOp::Create { path, .. } => 4 + path.as_str().len() as u64 + 4 + 8 + 12 + 1 + 4,
        TxnOp::Delete { path } => 4 + path.as_str().len() as u64,
        TxnOp::SetData { path, .. } => 4 + path.as_str().len() as u64 + 4 + 8 + 4,
        TxnOp::Error { .. } => 4,
    };
    8 + 4 + 32 + 12 + 1 + body
}

/// The length of a log file holding `txns` (what `File.length` reports).
fn file_len<'a>(file: &LogFile, txns: impl Iterator<Item = &'a Txn>) -> u64 {
    let mut position = FILE_HEADER_LEN;
    let mut size = 0;
    for txn in txns {
        size = padded(position, size);
        position += record_len(txn);
    }
    if file.truncated {
        position
    } else {
        size.max(position)
    }
}

/// An estimate of a snapshot file's length (`FileSnap.serialize`): header, sessions, and per
/// znode its path, data, ACL reference and StatPersisted.
pub(crate) fn snapshot_len(snapshot: &Snapshot) -> u64 {
    let nodes: u64 = snapshot
        .tree
        .nodes()
        .map(|(path, _)| 4 + path.len() as u64 + 4 + 8 + 8 + 68)
        .sum();
    FILE_HEADER_LEN + 4 + 12 * snapshot.tree.sessions().len() as u64 + 8 + nodes + 8 + 8
}

/// `ZKDatabase.getProposalsFromTxnLog(start, calculateTxnLogSizeLimit())` (ZKDatabase.java
/// :352-414 / 365-427): the logged txns from the start of the file holding
/// `start`, or nothing when the files do not reach back to `start` ("Unable to find proposals
/// from txnlog") or the later files are over a third of the newest snapshot ("Txnlog size ...
/// exceeds sizeLimit"). `log` is the server's log, ascending; `newest_snapshot` is the one
/// `findMostRecentSnapshot` would find.
pub(crate) fn proposals_from<'a>(
    files: &[LogFile],
    log: &'a [Txn],
    newest_snapshot: Option<&Snapshot>,
    start: Zxid,
) -> Option<&'a [Txn]> {
    // FileTxnIterator.init (FileTxnLog.java:654-672 / 679-697): the files named at or after
    // `start`, and the newest one named before it, which the iterator opens first.
    let at_or_after = files.partition_point(|f| f.first < start);
    let opened = at_or_after.saturating_sub(1);
    let file = files.get(opened)?;
    let from = log.partition_point(|t| t.zxid < file.first);
    let first = log.get(from)?;
    if first.zxid > start {
        return None;
    }
    // No snapshot means a limit of 0, which reads without a limit.
    let limit = newest_snapshot.map_or(0, |s| {
        (snapshot_len(s) as f64 * SNAPSHOT_SIZE_FACTOR) as u64
    });
    if limit > 0 {
        // FileTxnIterator.getStorageSize (676-682 / 701-707): the files after the one it
        // opened.
        let later: u64 = (opened + 1..files.len())
            .map(|i| {
                let lo = files[i].first;
                let hi = files.get(i + 1).map(|f| f.first);
                let txns = log
                    .iter()
                    .filter(move |t| t.zxid >= lo && hi.is_none_or(|hi| t.zxid < hi));
                file_len(&files[i], txns)
            })
            .sum();
        if later > limit {
            return None;
        }
    }
    Some(&log[from..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::DataTree;

    fn log(n: u64) -> Vec<Txn> {
        (1..=n).map(|c| Txn::initial(Zxid::new(1, c))).collect()
    }

    fn file(c: u64) -> LogFile {
        LogFile {
            first: Zxid::new(1, c),
            truncated: false,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            zxid: Zxid::new(1, 4),
            tree: DataTree::default(),
        }
    }

    #[test]
    fn a_txn_in_the_newest_file_is_read_from_the_log() {
        let txns = log(9);
        let files = [file(1), file(5)];
        let got = proposals_from(&files, &txns, Some(&snapshot()), Zxid::new(1, 6));
        assert_eq!(
            got.map(|t| t[0].zxid),
            Some(Zxid::new(1, 5)),
            "from the file's start"
        );
    }

    #[test]
    fn a_later_preallocated_file_outweighs_a_small_snapshot() {
        let txns = log(9);
        let files = [file(1), file(5)];
        let snap = snapshot();
        assert!(proposals_from(&files, &txns, Some(&snap), Zxid::new(1, 3)).is_none());
        // Without a snapshot the limit is 0, which means no limit.
        let got = proposals_from(&files, &txns, None, Zxid::new(1, 3));
        assert_eq!(got.map(<[Txn]>::len), Some(9));
    }

    #[test]
    fn files_that_do_not_reach_back_give_nothing() {
        let txns: Vec<Txn> = log(9).into_iter().skip(4).collect();
        let files = [file(5)];
        assert!(proposals_from(&files, &txns, None, Zxid::new(1, 3)).is_none());
        assert!(proposals_from(&[], &txns, None, Zxid::new(1, 6)).is_none());
    }

    #[test]
    fn a_truncated_file_keeps_only_its_records_and_later_files_go() {
        let mut files = vec![file(1), file(5), file(8)];
        truncate(&mut files, Zxid::new(1, 6));
        assert_eq!(files.len(), 2);
        assert!(files[1].truncated && !files[0].truncated);
        let txns = log(6);
        let len = file_len(&files[1], txns[4..].iter());
        assert_eq!(len, FILE_HEADER_LEN + 2 * record_len(&txns[4]));
        assert_eq!(file_len(&files[0], txns[..4].iter()), PRE_ALLOC_SIZE);
    }
}
