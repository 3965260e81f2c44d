//! One simulated server's disk as the data directory a real server of the modelled release
//! would have: every file, named and laid out as ZooKeeper lays them out.
//!
//! Layout (dataDir and dataLogDir are the same directory, QuorumPeerConfig.java:426-428;
//! `FileTxnSnapLog` appends `version-2`, persistence/FileTxnSnapLog.java:64-65, 115-116):
//!
//! ```text
//! myid                          the server id
//! version-2/acceptedEpoch       the epoch files
//! version-2/currentEpoch
//! version-2/updatingEpoch       only while the model's marker is set (see peer_files.rs)
//! version-2/snapshot.<hex>      one per snapshot the image holds, plus snapshot.0
//! version-2/log.<hex>           one per log file the image models
//! ```
//!
//! Model → files:
//! * Snapshots: each of `DiskImage::snapshots`, named after `Snapshot::zxid`. A real server
//!   writes `snapshot.0` on its first start (persistence/FileTxnSnapLog.java:283-310), and
//!   refuses a log without any snapshot; the model's disks never hold that one, so it is
//!   added (the fresh tree) unless the image has a snapshot named 0. A server loads the
//!   newest valid snapshot (FileSnap.java:72-120), so the extra one changes nothing when
//!   others exist. Under `fixed` the model also rebuilds from `DiskImage::log_base` (see
//!   `zab::Server::boot`), so that one is written too when retention has dropped it from
//!   the list; the releases' model reads only the list.
//! * Log files: one per `DiskImage::log_files` entry, named after `LogFile::first`, holding
//!   the logged txns from its name up to the next file's. Txns logged before any file was
//!   opened (a scenario's `[[server]] log`) go to a first file named after the first of
//!   them, as a booting server assumes. A file whose txns the model dropped (a SNAP replaces
//!   the log before it) is written with its header only. Two files of one name (a log
//!   truncated below its first file, then appended to) are one file, the later.
//! * Each log record carries the `TxnDigest` of the tree after it, from a replay of the log
//!   from `DiskImage::log_base` (or an empty tree): the digest a leader computed when it
//!   prepared the txn, where the model's history is the leader's.

use crate::digest::DIGEST_VERSION;
use crate::peer_files::{epoch_file, myid, ACCEPTED_EPOCH, CURRENT_EPOCH, UPDATING_EPOCH};
use crate::records::TxnDigest;
use crate::snapshot::{snapshot_file, snapshot_name, SnapshotContents, ZxidDigest};
use crate::stamps::{Stamps, ZxidTimes};
use crate::tree::{model_node_digest, tree_digest, zk_nodes};
use crate::txn::{carries_digest, header_and_record, TxnEntry};
use crate::txn_log::{log_file, log_name, FileBytes};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use zab::{DataTree, DiskImage, LogFile, ServerId, Snapshot, Txn, TxnOp, ZkVersion, Zxid};

/// `FileTxnSnapLog.version + VERSION` (persistence/FileTxnSnapLog.java:64-65).
pub const VERSION_DIR: &str = "version-2";

/// One file of a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub contents: FileBytes,
}

/// A server's whole data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    pub files: Vec<DataFile>,
    /// The zxid a restart would load (`DiskImage::last_zxid`), which a real server started
    /// on these files reports as "highest zxid".
    pub last_zxid: Zxid,
}

impl DataDir {
    /// The file at `path`, if there is one.
    pub fn file(&self, path: &str) -> Option<&DataFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Whether the release writes the snapshot's third section, `lastProcessedZxid` (3.9.4 and
/// `fixed`, which follows it; see snapshot.rs).
pub fn writes_last_processed_zxid(version: ZkVersion) -> bool {
    !matches!(version, ZkVersion::V3_8_0)
}

/// Server `id`'s data directory for `image`, in the formats of `version`. `stamps` gives
/// each txn's header time and session (see stamps.rs).
pub fn data_dir(id: ServerId, image: &DiskImage, version: ZkVersion, stamps: &Stamps) -> DataDir {
    let mut files = vec![
        plain("myid", myid(id)),
        plain(
            &format!("{VERSION_DIR}/{ACCEPTED_EPOCH}"),
            epoch_file(image.accepted_epoch),
        ),
        plain(
            &format!("{VERSION_DIR}/{CURRENT_EPOCH}"),
            epoch_file(image.current_epoch),
        ),
    ];
    if image.updating_epoch {
        files.push(plain(
            &format!("{VERSION_DIR}/{UPDATING_EPOCH}"),
            Vec::new(),
        ));
    }
    for s in snapshots_written(image, version) {
        let bytes = snapshot_bytes(&s, version, stamps);
        files.push(plain(
            &format!("{VERSION_DIR}/{}", snapshot_name(s.zxid)),
            bytes,
        ));
    }
    for (name, contents) in log_files(image, stamps) {
        files.push(DataFile {
            path: format!("{VERSION_DIR}/{}", log_name(name)),
            contents,
        });
    }
    DataDir {
        files,
        last_zxid: image.last_zxid(),
    }
}

fn plain(path: &str, bytes: Vec<u8>) -> DataFile {
    let len = bytes.len() as u64;
    DataFile {
        path: path.to_string(),
        contents: FileBytes { bytes, len },
    }
}

/// The snapshots to write, by name; of two with one name the later written wins, as the
/// release's second `FileSnap.serialize` would overwrite the first.
fn snapshots_written(image: &DiskImage, version: ZkVersion) -> Vec<Arc<Snapshot>> {
    let mut by_name: BTreeMap<Zxid, Arc<Snapshot>> = BTreeMap::new();
    if version == ZkVersion::Fixed {
        if let Some(base) = &image.log_base {
            by_name.insert(base.zxid, base.clone());
        }
    }
    for s in &image.snapshots {
        by_name.insert(s.zxid, s.clone());
    }
    by_name.entry(Zxid::default()).or_insert_with(|| {
        Arc::new(Snapshot {
            zxid: Zxid::default(),
            tree: DataTree::default(),
        })
    });
    by_name.into_values().collect()
}

/// One snapshot's file. Its digest is the tree's after its newest txn, as the release's
/// `lastProcessedZxidDigest` is; a tree that holds no txn has the fresh tree's empty digest.
pub fn snapshot_bytes(s: &Snapshot, version: ZkVersion, stamps: &Stamps) -> Vec<u8> {
    let times = ZxidTimes::of(s.tree.applied.iter(), stamps);
    let nodes = zk_nodes(&s.tree, &times);
    let digest = match s.last_txn() {
        Some(zxid) => ZxidDigest {
            zxid: zxid.0 as i64,
            digest_version: DIGEST_VERSION,
            digest: tree_digest(&nodes).value(),
        },
        None => ZxidDigest::EMPTY,
    };
    snapshot_file(&SnapshotContents {
        sessions: s.tree.sessions(),
        nodes: &nodes,
        digest,
        last_processed_zxid: writes_last_processed_zxid(version).then_some(s.zxid.0 as i64),
    })
}

/// The log's files in name order, each with the index range of `image.log` it holds.
fn log_file_plan(image: &DiskImage) -> Vec<(LogFile, std::ops::Range<usize>)> {
    let mut files: Vec<LogFile> = Vec::new();
    for f in &image.log_files {
        while files.last().is_some_and(|l| l.first >= f.first) {
            files.pop();
        }
        files.push(*f);
    }
    if let Some(first) = image.log.first() {
        if files.first().is_none_or(|f| first.zxid < f.first) {
            files.insert(
                0,
                LogFile {
                    first: first.zxid,
                    truncated: false,
                },
            );
        }
    }
    let starts: Vec<usize> = files
        .iter()
        .map(|f| image.log.partition_point(|t| t.zxid < f.first))
        .collect();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let end = starts.get(i + 1).copied().unwrap_or(image.log.len());
            (*f, starts[i]..end)
        })
        .collect()
}

/// Every log file: its name's zxid and contents.
fn log_files(image: &DiskImage, stamps: &Stamps) -> Vec<(Zxid, FileBytes)> {
    let entries = log_entries(image, stamps);
    log_file_plan(image)
        .into_iter()
        .map(|(f, range)| {
            let padded = !f.truncated;
            (f.first, log_file(&entries[range], padded))
        })
        .collect()
}

/// Every logged txn as a log entry, replaying the log over the tree it continues to learn
/// each closeSession's ephemerals and the digest after each txn.
pub fn log_entries(image: &DiskImage, stamps: &Stamps) -> Vec<TxnEntry> {
    let base_zxid = image.log_base.as_ref().map_or(Zxid::default(), |b| b.zxid);
    let mut tree = image
        .log_base
        .as_ref()
        .map_or_else(DataTree::default, |b| b.tree.clone());
    let mut times = ZxidTimes::of(tree.applied.iter(), stamps);
    let mut digest = tree_digest(&zk_nodes(&tree, &times));
    let mut out = Vec::with_capacity(image.log.len());
    for txn in &image.log {
        let stamp = stamps.get(txn.id());
        let closing: Vec<String> = match &txn.op {
            TxnOp::CloseSession { session } => {
                tree.ephemerals_of(*session).map(str::to_string).collect()
            }
            _ => Vec::new(),
        };
        let closing_refs: Vec<&str> = closing.iter().map(String::as_str).collect();
        let (hdr, record) = header_and_record(txn, stamp, &closing_refs);
        // A txn the log holds from before the tree it continues is already in that tree
        // (a booting server skips it too, zab::Server::boot).
        if txn.zxid > base_zxid {
            let touched = touched_paths(&tree, txn);
            for p in &touched {
                if let Some(d) = model_node_digest(&tree, p, &times) {
                    digest.remove(d);
                }
            }
            tree.apply(txn);
            times.push(txn, stamps);
            for p in &touched {
                if let Some(d) = model_node_digest(&tree, p, &times) {
                    digest.add(d);
                }
            }
        }
        out.push(TxnEntry {
            hdr,
            txn: record,
            digest: carries_digest(&txn.op).then_some(TxnDigest {
                version: DIGEST_VERSION,
                tree_digest: digest.value(),
            }),
        });
    }
    out
}

/// The znodes applying `txn` to `tree` can change: its path and the parent's, or a closing
/// session's ephemerals and their parents.
fn touched_paths(tree: &DataTree, txn: &Txn) -> BTreeSet<String> {
    fn with_parent(paths: &mut BTreeSet<String>, p: &str) {
        paths.insert(p.to_string());
        if let Some(parent) = zab::tree::parent_of(p) {
            paths.insert(parent.to_string());
        }
    }
    let mut paths = BTreeSet::new();
    match &txn.op {
        TxnOp::Create { path, .. } | TxnOp::Delete { path } => with_parent(&mut paths, path),
        TxnOp::SetData { path, .. } => {
            paths.insert(path.to_string());
        }
        TxnOp::CloseSession { session } => {
            for p in tree.ephemerals_of(*session) {
                with_parent(&mut paths, p);
            }
        }
        TxnOp::Initial | TxnOp::CreateSession { .. } | TxnOp::Error { .. } => {}
    }
    paths
}

/// Writes a data directory's files under `dir`, which must exist. A log file's
/// preallocation is written as the release writes it, by extending the file, which leaves
/// it sparse.
pub fn write_data_dir(dir: &Path, d: &DataDir) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join(VERSION_DIR))?;
    for f in &d.files {
        let path = dir.join(&f.path);
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&f.contents.bytes)?;
        if f.contents.len > f.contents.bytes.len() as u64 {
            file.set_len(f.contents.len)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamps::TxnStamp;
    use zab::db::RequestId;
    use zab::{ClientId, DiskOp, KeeperError, SessionId};

    const S: SessionId = SessionId(0x0100_0000_a000_0001);

    fn txn(c: u64, cxid: u64, op: TxnOp) -> Txn {
        Txn::from(zab::TxnFields {
            zxid: Zxid::new(1, c),
            proposer: ServerId(1),
            request: Some(RequestId {
                client: ClientId(1),
                cxid,
            }),
            op,
        })
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn the_verified_example_log_comes_out_of_a_model_disk() {
        // The disk of zk-file-formats.md §6: session S opens at simulated time 0 and creates
        // "/a" with data 1 a millisecond later. The file must be the one a real 3.8.0 leader
        // wrote, digests included: the model's tree, times and digest are ZooKeeper's here.
        let log = vec![
            txn(
                1,
                0,
                TxnOp::CreateSession {
                    session: S,
                    timeout_ms: 30000,
                },
            ),
            txn(
                2,
                1,
                TxnOp::Create {
                    path: "/a".into(),
                    data: 1,
                    ephemeral_owner: SessionId::NONE,
                    parent_cversion: 1,
                },
            ),
        ];
        let mut image = DiskImage::default();
        for t in &log {
            image.apply(&DiskOp::Append(t.clone()));
        }
        let mut stamps = Stamps::new();
        stamps.insert(log[0].id(), TxnStamp::at(0, S));
        stamps.insert(log[1].id(), TxnStamp::at(1_000, S));
        let d = data_dir(ServerId(1), &image, ZkVersion::V3_8_0, &stamps);
        let f = d
            .file("version-2/log.100000001")
            .expect("named after its first txn");
        assert_eq!(
            hex(&f.contents.bytes),
            "5a4b4c4700000002000000000000000000000000b2860a340000003001000000a00000010000000000000001000000010000018bcfe56800fffffff600007530000000020000000051c6d660420000000083970bdf0000005701000000a00000010000000100000001000000020000018bcfe5680100000001000000022f610000000131000000010000001f00000005776f726c6400000006616e796f6e65000000000100000002000000018d90daf242"
        );
        assert_eq!(d.last_zxid, Zxid::new(1, 2));
    }

    /// A disk with every kind of txn, two log files and a snapshot.
    fn busy_disk() -> (DiskImage, Stamps) {
        let t = |c, op| txn(c, c, op);
        let log = vec![
            Txn::initial(Zxid::new(1, 1)),
            t(
                2,
                TxnOp::CreateSession {
                    session: S,
                    timeout_ms: 4000,
                },
            ),
            t(
                3,
                TxnOp::Create {
                    path: "/app".into(),
                    data: 7,
                    ephemeral_owner: SessionId::NONE,
                    parent_cversion: 1,
                },
            ),
            t(
                4,
                TxnOp::Create {
                    path: "/app/e".into(),
                    data: 8,
                    ephemeral_owner: S,
                    parent_cversion: 1,
                },
            ),
            t(
                5,
                TxnOp::SetData {
                    path: "/app".into(),
                    data: 9,
                    version: 1,
                },
            ),
            t(
                6,
                TxnOp::Error {
                    err: KeeperError::NodeExists,
                },
            ),
            t(
                7,
                TxnOp::Create {
                    path: "/x".into(),
                    data: 1,
                    ephemeral_owner: SessionId::NONE,
                    parent_cversion: 2,
                },
            ),
            t(8, TxnOp::Delete { path: "/x".into() }),
            t(9, TxnOp::CloseSession { session: S }),
        ];
        let mut image = DiskImage::default();
        let mut stamps = Stamps::new();
        let mut tree = DataTree::default();
        for (i, txn) in log.iter().enumerate() {
            let op = if i == 5 {
                DiskOp::AppendToNewFile(txn.clone())
            } else {
                DiskOp::Append(txn.clone())
            };
            image.apply(&op);
            if i > 0 {
                stamps.insert(txn.id(), TxnStamp::at(1_000 * i as u64, S));
            }
            tree.apply(txn);
            if i == 4 {
                image.apply(&DiskOp::Snapshot {
                    snapshot: Arc::new(Snapshot {
                        zxid: txn.zxid,
                        tree: tree.clone(),
                    }),
                    replaces_log: false,
                });
            }
        }
        image.accepted_epoch = 2;
        image.current_epoch = 1;
        (image, stamps)
    }

    #[test]
    fn every_file_is_named_and_laid_out_as_the_release_does() {
        let (image, stamps) = busy_disk();
        let d = data_dir(ServerId(3), &image, ZkVersion::V3_9_4, &stamps);
        let names: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "myid",
                "version-2/acceptedEpoch",
                "version-2/currentEpoch",
                "version-2/snapshot.0",
                "version-2/snapshot.100000005",
                "version-2/log.100000001",
                "version-2/log.100000006",
            ]
        );
        assert_eq!(d.file("myid").unwrap().contents.bytes, b"3\n");
        assert_eq!(
            d.file("version-2/acceptedEpoch").unwrap().contents.bytes,
            b"2"
        );
        assert_eq!(
            d.file("version-2/currentEpoch").unwrap().contents.bytes,
            b"1"
        );
        let log = &d.file("version-2/log.100000001").unwrap().contents;
        assert_eq!(log.len, crate::txn_log::PRE_ALLOC_SIZE + 16, "preallocated");
        assert_eq!(d.last_zxid, Zxid::new(1, 9));
    }

    #[test]
    fn each_digest_is_the_whole_trees_after_the_txn() {
        // The log's running digest, kept up from the znodes each txn touches, equals the
        // digest of the whole tree recomputed after every txn.
        let (image, stamps) = busy_disk();
        let entries = log_entries(&image, &stamps);
        let mut tree = DataTree::default();
        for (txn, e) in image.log.iter().zip(&entries) {
            tree.apply(txn);
            let times = ZxidTimes::of(tree.applied.iter(), &stamps);
            let whole = tree_digest(&zk_nodes(&tree, &times)).value();
            match (&txn.op, e.digest) {
                (TxnOp::Error { .. } | TxnOp::Initial, d) => assert_eq!(d, None),
                (_, Some(d)) => assert_eq!(d.tree_digest, whole, "after {}", txn.zxid),
                (_, None) => panic!("{} lacks its digest", txn.zxid),
            }
        }
        // The closeSession lists the session's ephemeral.
        let close = entries.last().unwrap();
        assert_eq!(
            close.txn,
            crate::records::TxnRecord::CloseSession(crate::records::CloseSessionTxn {
                paths2_delete: vec!["/app/e".into()]
            })
        );
    }

    #[test]
    fn a_truncated_file_is_not_padded_and_same_named_files_are_one() {
        let (mut image, stamps) = busy_disk();
        image.apply(&DiskOp::Truncate(Zxid::new(1, 7)));
        let d = data_dir(ServerId(1), &image, ZkVersion::V3_8_0, &stamps);
        let second = &d.file("version-2/log.100000006").unwrap().contents;
        assert_eq!(
            second.len,
            second.bytes.len() as u64,
            "cut at its last record"
        );
        // Truncating below the first file keeps it (marked truncated); appending again opens
        // a file of the same name, which replaces it.
        image.apply(&DiskOp::Truncate(Zxid::new(1, 0)));
        image.apply(&DiskOp::AppendToNewFile(Txn::initial(Zxid::new(1, 1))));
        let d = data_dir(ServerId(1), &image, ZkVersion::V3_8_0, &stamps);
        let logs: Vec<&str> = d
            .files
            .iter()
            .map(|f| f.path.as_str())
            .filter(|p| p.contains("/log."))
            .collect();
        assert_eq!(logs, ["version-2/log.100000001"]);
    }

    #[test]
    fn a_scenarios_initial_log_gets_a_file_and_later_appends_their_own() {
        // Sim::new puts a scenario's initial txns in the log without opening a file.
        let mut image = DiskImage {
            log: vec![Txn::initial(Zxid::new(1, 1)), Txn::initial(Zxid::new(1, 2))],
            accepted_epoch: 1,
            current_epoch: 1,
            ..DiskImage::default()
        };
        image.apply(&DiskOp::AppendToNewFile(Txn::initial(Zxid::new(2, 1))));
        let d = data_dir(ServerId(1), &image, ZkVersion::Fixed, &Stamps::new());
        assert!(d.file("version-2/log.100000001").is_some());
        assert!(d.file("version-2/log.200000001").is_some());
        assert!(d.file("version-2/snapshot.0").is_some());
    }

    #[test]
    fn the_updating_epoch_marker_is_an_empty_file() {
        let image = DiskImage {
            updating_epoch: true,
            ..DiskImage::default()
        };
        let d = data_dir(ServerId(1), &image, ZkVersion::Fixed, &Stamps::new());
        let m = d.file("version-2/updatingEpoch").expect("written");
        assert!(m.contents.bytes.is_empty());
    }
}
