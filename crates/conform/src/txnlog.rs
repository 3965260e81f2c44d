//! ZooKeeper's transaction log files (`dataDir/version-2/log.<hex zxid>`), read back.
//!
//! Format, from FileTxnLog.java at release-3.8.0-1: a `FileHeader` (int magic "ZKLG", int
//! version 2, long dbid; :102-104, written at :291), then records of `long checksum`, a jute
//! buffer (`int length` + bytes) and the byte 'B' (Util.java:209-212). The checksum is Adler32
//! over the buffer's bytes only (FileTxnLog.java:303-305 on write, :749-758 on read), although
//! the class comment at :75-78 says it also covers the length. The buffer starts with a
//! `TxnHeader` (long clientId, int cxid, long zxid, long time, int type; zookeeper.jute). The
//! file is preallocated with zeros, so a zero length marks the end (Util.java:157-173), as
//! does a record cut short by a crash.

use std::path::Path;

use crate::error::{Error, Result};

/// One transaction: its header and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The transaction's zxid.
    pub zxid: i64,
    /// `TxnHeader.type` (see [`txn_type_name`]).
    pub txn_type: i32,
    /// The session that issued it.
    pub client_id: i64,
    /// The client's request number.
    pub cxid: i32,
    /// The leader's wall clock when it proposed, ms since the Unix epoch.
    pub time_ms: i64,
    /// The record after the header, for the types the workloads produce.
    pub body: TxnBody,
}

/// The txn record that follows a `TxnHeader`, by type (zookeeper.jute at release-3.8.0-1,
/// :302-357; the type codes are `ZooDefs.OpCode`). A digest may follow it in the file; it is
/// not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    /// create (1), create2 (15): `CreateTxn {ustring path; buffer data; vector<ACL> acl;
    /// boolean ephemeral; int parentCVersion}`.
    Create {
        path: String,
        data: Vec<u8>,
        ephemeral: bool,
        parent_cversion: i32,
    },
    /// delete (2): `DeleteTxn {ustring path}`.
    Delete { path: String },
    /// setData (5): `SetDataTxn {ustring path; buffer data; int version}`.
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    /// createSession (-10): `CreateSessionTxn {int timeOut}`.
    CreateSession { timeout_ms: i32 },
    /// closeSession (-11): `CloseSessionTxn {vector<ustring> paths2Delete}` when
    /// `zookeeper.closeSessionTxn.enabled` (the default), else nothing.
    CloseSession { paths: Vec<String> },
    /// error (-1): `ErrorTxn {int err}`.
    Error { err: i32 },
    /// Any other type, or a record this reader cannot decode.
    Other,
}

impl TxnBody {
    fn parse(txn_type: i32, b: &[u8]) -> TxnBody {
        let mut r = Jute(b);
        let body = match txn_type {
            1 | 15 => (|| {
                let path = r.string()?;
                let data = r.buffer()?;
                r.acls()?;
                let ephemeral = r.byte()? != 0;
                let parent_cversion = r.i32()?;
                Some(TxnBody::Create {
                    path,
                    data,
                    ephemeral,
                    parent_cversion,
                })
            })(),
            2 => r.string().map(|path| TxnBody::Delete { path }),
            5 => (|| {
                Some(TxnBody::SetData {
                    path: r.string()?,
                    data: r.buffer()?,
                    version: r.i32()?,
                })
            })(),
            -10 => r
                .i32()
                .map(|timeout_ms| TxnBody::CreateSession { timeout_ms }),
            -11 => Some(TxnBody::CloseSession {
                paths: (|| {
                    let n = r.i32()?;
                    (0..n.max(0))
                        .map(|_| r.string())
                        .collect::<Option<Vec<_>>>()
                })()
                .unwrap_or_default(),
            }),
            -1 => r.i32().map(|err| TxnBody::Error { err }),
            _ => None,
        };
        body.unwrap_or(TxnBody::Other)
    }
}

/// Big-endian jute primitives over a byte slice.
struct Jute<'a>(&'a [u8]);

impl Jute<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4).map(be_i32)
    }
    /// A buffer: int length (−1 for null), then the bytes.
    fn buffer(&mut self) -> Option<Vec<u8>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(Vec::new());
        }
        self.take(n as usize).map(<[u8]>::to_vec)
    }
    fn string(&mut self) -> Option<String> {
        self.buffer().and_then(|b| String::from_utf8(b).ok())
    }
    /// `vector<ACL>`: int count, then `ACL {int perms; Id {ustring scheme; ustring id}}`.
    fn acls(&mut self) -> Option<()> {
        let n = self.i32()?;
        for _ in 0..n.max(0) {
            self.i32()?;
            self.string()?;
            self.string()?;
        }
        Some(())
    }
}

/// One parsed log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogFile {
    /// The header's dbid.
    pub dbid: i64,
    /// Every whole record, in file order.
    pub records: Vec<TxnRecord>,
    /// Whether the file ends in a record cut short (a crash mid-write), which is ignored.
    pub torn_tail: bool,
}

/// "ZKLG" as a big-endian int.
const MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");

/// Parses a whole log file.
pub fn parse(bytes: &[u8]) -> Result<TxnLogFile> {
    if bytes.len() < 16 {
        return Err(Error::new(format!(
            "txn log is {} bytes, shorter than its 16-byte header",
            bytes.len()
        )));
    }
    let magic = be_i32(&bytes[0..4]);
    if magic != MAGIC {
        return Err(Error::new(format!(
            "txn log magic is {magic:#x}, not \"ZKLG\""
        )));
    }
    let version = be_i32(&bytes[4..8]);
    if version != 2 {
        return Err(Error::new(format!("txn log version {version}, expected 2")));
    }
    let dbid = be_i64(&bytes[8..16]);
    let mut at = 16usize;
    let mut records = Vec::new();
    let mut torn_tail = false;
    // Fewer than checksum + length bytes left is the end of the file.
    while let Some(head) = bytes.get(at..at + 12) {
        let checksum = be_i64(&head[0..8]);
        let len = be_i32(&head[8..12]);
        if len == 0 {
            break; // preallocated zeros
        }
        let end = at + 12 + len.max(0) as usize;
        if len < 0 || end >= bytes.len() || bytes[end] != b'B' {
            torn_tail = true;
            break;
        }
        let payload = &bytes[at + 12..end];
        let computed = adler32(payload) as i64;
        if computed != checksum {
            return Err(Error::new(format!(
                "txn log record at byte {at}: checksum {checksum:#x} but the bytes sum to {computed:#x}"
            )));
        }
        if payload.len() < 32 {
            return Err(Error::new(format!(
                "txn log record at byte {at} is {} bytes, too short for a TxnHeader",
                payload.len()
            )));
        }
        let txn_type = be_i32(&payload[28..32]);
        records.push(TxnRecord {
            client_id: be_i64(&payload[0..8]),
            cxid: be_i32(&payload[8..12]),
            zxid: be_i64(&payload[12..20]),
            time_ms: be_i64(&payload[20..28]),
            txn_type,
            body: TxnBody::parse(txn_type, &payload[32..]),
        });
        at = end + 1;
    }
    Ok(TxnLogFile {
        dbid,
        records,
        torn_tail,
    })
}

/// Every record of every `log.*` file in `version2_dir`, files in zxid order of their names.
/// A missing directory is an empty history.
pub fn read_dir(version2_dir: &Path) -> Result<Vec<TxnRecord>> {
    let entries = match std::fs::read_dir(version2_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", version2_dir.display()), e)),
    };
    let mut files: Vec<(u64, std::path::PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_prefix("log.") {
            if let Ok(start) = u64::from_str_radix(hex, 16) {
                files.push((start, entry.path()));
            }
        }
    }
    files.sort();
    let mut all = Vec::new();
    for (_, path) in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let file = parse(&bytes).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        all.extend(file.records);
    }
    Ok(all)
}

/// Adler-32 as `java.util.zip.Adler32` computes it.
pub fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 is the longest run before b can overflow u32.
    for block in bytes.chunks(5552) {
        for &x in block {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// The name of a `TxnHeader.type` (ZooDefs.OpCode), or its number.
pub fn txn_type_name(t: i32) -> String {
    let name = match t {
        -11 => "closeSession",
        -10 => "createSession",
        -1 => "error",
        1 => "create",
        2 => "delete",
        5 => "setData",
        7 => "setACL",
        9 => "sync",
        13 => "check",
        14 => "multi",
        15 => "create2",
        16 => "reconfig",
        19 => "createContainer",
        20 => "deleteContainer",
        21 => "createTTL",
        _ => return t.to_string(),
    };
    name.to_string()
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(zxid: i64, txn_type: i32, body: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&0x1234i64.to_be_bytes()); // clientId
        payload.extend_from_slice(&7i32.to_be_bytes()); // cxid
        payload.extend_from_slice(&zxid.to_be_bytes());
        payload.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        payload.extend_from_slice(&txn_type.to_be_bytes());
        payload.extend_from_slice(body);
        let mut out = Vec::new();
        out.extend_from_slice(&(adler32(&payload) as i64).to_be_bytes());
        out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        out.extend_from_slice(&payload);
        out.push(b'B');
        out
    }

    fn header() -> Vec<u8> {
        let mut h = b"ZKLG".to_vec();
        h.extend_from_slice(&2i32.to_be_bytes());
        h.extend_from_slice(&0i64.to_be_bytes());
        h
    }

    #[test]
    fn adler32_known_value() {
        // The classic example from the Adler-32 article.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
        let long = vec![0xffu8; 100_000];
        let naive = {
            let (mut a, mut b) = (1u64, 0u64);
            for &x in &long {
                a = (a + x as u64) % 65521;
                b = (b + a) % 65521;
            }
            ((b << 16) | a) as u32
        };
        assert_eq!(adler32(&long), naive);
    }

    #[test]
    fn records_then_preallocated_zeros() {
        let mut file = header();
        file.extend(record(0x1_0000_0001, -10, b"session"));
        file.extend(record(0x1_0000_0002, 1, b"/a create body"));
        file.extend(vec![0u8; 4096]);
        let parsed = parse(&file).unwrap();
        let got: Vec<(i64, i32)> = parsed
            .records
            .iter()
            .map(|r| (r.zxid, r.txn_type))
            .collect();
        assert_eq!(got, vec![(0x1_0000_0001, -10), (0x1_0000_0002, 1)]);
        assert!(!parsed.torn_tail);
        assert_eq!(parsed.records[0].client_id, 0x1234);
    }

    #[test]
    fn torn_tail_is_ignored_and_bad_checksum_is_an_error() {
        let mut file = header();
        file.extend(record(0x1_0000_0001, 1, b"x"));
        let second = record(0x1_0000_0002, 1, b"yy");
        file.extend_from_slice(&second[..second.len() - 3]);
        let parsed = parse(&file).unwrap();
        assert_eq!(parsed.records.len(), 1);
        assert!(parsed.torn_tail);

        let mut bad = header();
        let mut r = record(0x1_0000_0001, 1, b"x");
        r[0] ^= 1;
        bad.extend(r);
        assert!(parse(&bad).unwrap_err().message().contains("checksum"));
        assert!(parse(b"ZKL").is_err());
        assert!(parse(&[0u8; 16]).is_err());
    }
}
