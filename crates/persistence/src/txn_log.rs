//! Txn log files (`version-2/log.<hex zxid>`), as `FileTxnLog` writes them.
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/server/persistence/`
//! at `release-3.8.0-1`, then `release-3.9.4` where the line moved; the bytes are the same
//! in both releases.
//!
//! A file is a `FileHeader` then one record per txn: the Adler-32 of the entry as a long, the
//! entry as a jute buffer (its length, then `TxnHeader`, txn record and `TxnDigest` back to
//! back), and the end-of-record byte `'B'` (`FileTxnLog.append`, FileTxnLog.java:270-312 /
//! 275-326; `Util.writeTxnBytes`, Util.java:209-212 / 205-208). The checksum covers the entry
//! only, not its length or the `'B'`, whatever the class comment at FileTxnLog.java:75-78
//! says (the reader, :744-784 / 784-824, checks exactly that).

use crate::checksum::adler32;
use crate::jute::Archive;
use crate::records::{FileHeader, Record};
use crate::txn::TxnEntry;
use zab::Zxid;

/// `FileTxnLog.TXNLOG_MAGIC`, "ZKLG" as a big-endian int (FileTxnLog.java:102).
pub const TXNLOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");

/// `FileTxnLog.VERSION` (FileTxnLog.java:104).
pub const VERSION: i32 = 2;

/// `FileTxnLog.dbId` (FileTxnLog.java:156): declared, never assigned, so always 0 in a log's
/// header (snapshots write -1).
pub const DBID: i64 = 0;

/// `FilePadding.preAllocSize` (FilePadding.java:30): 64 MiB unless `zookeeper.preAllocSize`
/// says otherwise.
pub const PRE_ALLOC_SIZE: u64 = 65536 * 1024;

/// The end-of-record byte `'B'` (Util.java:211 / 207).
pub const EOR: u8 = 0x42;

/// `Util.makeLogName` (Util.java:84-86): "log." and the zxid in lower-case hex without
/// leading zeros.
pub fn log_name(zxid: Zxid) -> String {
    format!("log.{:x}", zxid.0)
}

/// `Util.marshallTxnEntry(hdr, txn, digest)` (Util.java:187-200 / 185-198): the header, the
/// txn record and, if there is one, the digest, with nothing between them.
pub fn marshall_txn_entry(e: &TxnEntry) -> Vec<u8> {
    let mut a = Archive::new();
    e.hdr.serialize(&mut a);
    e.txn.serialize(&mut a);
    if let Some(d) = &e.digest {
        d.serialize(&mut a);
    }
    a.into_bytes()
}

/// A file's contents: `bytes`, then zeros up to `len` (a log's preallocation, which a real
/// server writes as one byte at the end, leaving a sparse file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileBytes {
    pub bytes: Vec<u8>,
    /// At least `bytes.len()`.
    pub len: u64,
}

/// A whole log file holding `entries`.
///
/// `padded` says whether the file keeps its preallocation: every file a real server wrote
/// does, except one cut short by a TRUNC (`FileTxnLog.truncate` sets its length to the end of
/// the last record kept, FileTxnLog.java:456-476 / 481-501), which the model marks
/// `LogFile::truncated`. The padding follows `FilePadding.padFile`, called before every
/// append (FileTxnLog.java:298 / 310), with the file's size starting at the header's end
/// (:294-295 / 297-307): so the first record makes the file 64 MiB + 16 bytes. The position
/// taken is the end of the records written so far, as if each were flushed before the next;
/// the release pads at the flushed position, which differs only for records written within
/// 4 KiB of a 64 MiB boundary.
pub fn log_file(entries: &[TxnEntry], padded: bool) -> FileBytes {
    let mut a = Archive::new();
    FileHeader {
        magic: TXNLOG_MAGIC,
        version: VERSION,
        dbid: DBID,
    }
    .serialize(&mut a);
    let mut size = a.len() as u64;
    for e in entries {
        size = calculate_file_size_with_padding(a.len() as u64, size, PRE_ALLOC_SIZE);
        let buf = marshall_txn_entry(e);
        a.write_long(i64::from(adler32(&buf)));
        a.write_buffer(&buf);
        a.write_byte(EOR);
    }
    let bytes = a.into_bytes();
    let written = bytes.len() as u64;
    let len = if padded && !entries.is_empty() {
        size.max(written)
    } else {
        written
    };
    FileBytes { bytes, len }
}

/// `FilePadding.calculateFileSizeWithPadding` (FilePadding.java:96-113 / 101-118): within
/// 4 KiB of the end, grow by the preallocation size (or, past the end, to the next multiple
/// of it beyond the position).
pub fn calculate_file_size_with_padding(position: u64, file_size: u64, pre_alloc: u64) -> u64 {
    if pre_alloc > 0 && position + 4096 >= file_size {
        if position > file_size {
            let s = position + pre_alloc;
            s - s % pre_alloc
        } else {
            file_size + pre_alloc
        }
    } else {
        file_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{CreateSessionTxn, CreateTxn, TxnDigest, TxnHeader, TxnRecord};
    use crate::zoo_defs::open_acl_unsafe;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The two txns of the verified example log (zk-file-formats.md §6): a createSession and
    /// a create of "/a" with data "1" by session 0x01000000a0000001.
    fn example(digests: bool) -> Vec<TxnEntry> {
        let session = 0x0100_0000_a000_0001;
        vec![
            TxnEntry {
                hdr: TxnHeader {
                    client_id: session,
                    cxid: 0,
                    zxid: 0x1_0000_0001,
                    time: 1_700_000_000_000,
                    txn_type: -10,
                },
                txn: TxnRecord::CreateSession(CreateSessionTxn { time_out: 30000 }),
                digest: digests.then_some(TxnDigest {
                    version: 2,
                    tree_digest: 0x51c6_d660,
                }),
            },
            TxnEntry {
                hdr: TxnHeader {
                    client_id: session,
                    cxid: 1,
                    zxid: 0x1_0000_0002,
                    time: 1_700_000_000_001,
                    txn_type: 1,
                },
                txn: TxnRecord::Create(CreateTxn {
                    path: "/a".into(),
                    data: b"1".to_vec(),
                    acl: open_acl_unsafe(),
                    ephemeral: false,
                    parent_c_version: 1,
                }),
                digest: digests.then_some(TxnDigest {
                    version: 2,
                    tree_digest: 0x1_8d90_daf2,
                }),
            },
        ]
    }

    #[test]
    fn the_verified_example_log_without_digests() {
        let f = log_file(&example(false), false);
        assert_eq!(
            hex(&f.bytes),
            "5a4b4c47000000020000000000000000000000004e1607e50000002401000000a00000010000000000000001000000010000018bcfe56800fffffff6000075304200000000119208f30000004b01000000a00000010000000100000001000000020000018bcfe5680100000001000000022f610000000131000000010000001f00000005776f726c6400000006616e796f6e65000000000142"
        );
        assert_eq!(f.len, 153);
    }

    #[test]
    fn the_verified_example_log_as_a_real_leader_writes_it() {
        // Byte for byte what a real 3.8.0 leader wrote, digests included.
        let f = log_file(&example(true), true);
        assert_eq!(
            hex(&f.bytes),
            "5a4b4c4700000002000000000000000000000000b2860a340000003001000000a00000010000000000000001000000010000018bcfe56800fffffff600007530000000020000000051c6d660420000000083970bdf0000005701000000a00000010000000100000001000000020000018bcfe5680100000001000000022f610000000131000000010000001f00000005776f726c6400000006616e796f6e65000000000100000002000000018d90daf242"
        );
        assert_eq!(
            f.len,
            PRE_ALLOC_SIZE + 16,
            "preallocated as the real file was"
        );
    }

    #[test]
    fn each_record_checksum_covers_its_entry_only() {
        let f = log_file(&example(true), false);
        let b = &f.bytes;
        let mut at = 16;
        for e in example(true) {
            let entry = marshall_txn_entry(&e);
            let crc = i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
            let len = i32::from_be_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
            assert_eq!(len, entry.len());
            assert_eq!(&b[at + 12..at + 12 + len], &entry[..]);
            assert_eq!(crc, i64::from(adler32(&entry)));
            assert_eq!(b[at + 12 + len], b'B');
            at += 12 + len + 1;
        }
        assert_eq!(at, b.len());
    }

    #[test]
    fn names_and_padding_follow_the_release() {
        assert_eq!(log_name(Zxid::new(1, 1)), "log.100000001");
        assert_eq!(log_name(Zxid::new(0x1f, 0xab)), "log.1f000000ab");
        assert_eq!(
            calculate_file_size_with_padding(16, 16, PRE_ALLOC_SIZE),
            PRE_ALLOC_SIZE + 16
        );
        let near_end = PRE_ALLOC_SIZE + 16 - 100;
        assert_eq!(
            calculate_file_size_with_padding(near_end, PRE_ALLOC_SIZE + 16, PRE_ALLOC_SIZE),
            2 * PRE_ALLOC_SIZE + 16
        );
        assert_eq!(
            calculate_file_size_with_padding(PRE_ALLOC_SIZE + 20, PRE_ALLOC_SIZE, PRE_ALLOC_SIZE),
            2 * PRE_ALLOC_SIZE
        );
        let header_only = log_file(&[], true);
        assert_eq!((header_only.bytes.len(), header_only.len), (16, 16));
    }
}
