//! ZooKeeper's quorum (leader ↔ learner) wire format, parsed incrementally from a byte stream.
//!
//! There is no length prefix: `Learner.writePacket` and `LearnerHandler` hand a `QuorumPacket`
//! straight to jute's `BinaryOutputArchive.writeRecord` (Learner.java:203,
//! LearnerHandler.java:368, :537, :601 at release-3.8.0-1), and `writeRecord` only serializes
//! the fields (jute BinaryOutputArchive.java:125-133: `startRecord`/`endRecord` write nothing).
//! So a packet is `int type, long zxid, buffer data, vector<Id> authinfo` with a buffer being
//! `int len` (−1 = null) plus bytes (BinaryOutputArchive.java:115-123), a vector `int count`
//! (−1 = null) plus elements (:135-141), and an `Id` two ustrings (zookeeper.jute `class Id`).
//! Nothing precedes the first packet when quorum SASL is off: the learner and leader then use
//! `NullQuorumAuthLearner`/`NullQuorumAuthServer` (QuorumPeer.java:1118-1119), called at
//! Learner.java:354 and LearnerHandler.java:288-291.
//!
//! One exception: after a `SNAP` packet the leader writes the serialized data tree followed by
//! the ustring "BenWasHere" on the same stream (LearnerHandler.java:568-583). The parser
//! passes those bytes through unparsed until it has seen that signature.

/// Packet types, from Leader.java at release-3.8.0-1 (line of each constant).
pub mod kind {
    /// Leader.java:383
    pub const REQUEST: i32 = 1;
    /// Leader.java:388
    pub const PROPOSAL: i32 = 2;
    /// Leader.java:393
    pub const ACK: i32 = 3;
    /// Leader.java:399
    pub const COMMIT: i32 = 4;
    /// Leader.java:405
    pub const PING: i32 = 5;
    /// Leader.java:410
    pub const REVALIDATE: i32 = 6;
    /// Leader.java:416
    pub const SYNC: i32 = 7;
    /// Leader.java:421
    pub const INFORM: i32 = 8;
    /// Leader.java:426
    pub const COMMITANDACTIVATE: i32 = 9;
    /// Leader.java:354
    pub const NEWLEADER: i32 = 10;
    /// Leader.java:360
    pub const FOLLOWERINFO: i32 = 11;
    /// Leader.java:366
    pub const UPTODATE: i32 = 12;
    /// Leader.java:333
    pub const DIFF: i32 = 13;
    /// Leader.java:338
    pub const TRUNC: i32 = 14;
    /// Leader.java:343
    pub const SNAP: i32 = 15;
    /// Leader.java:348
    pub const OBSERVERINFO: i32 = 16;
    /// Leader.java:372
    pub const LEADERINFO: i32 = 17;
    /// Leader.java:377
    pub const ACKEPOCH: i32 = 18;
    /// Leader.java:431
    pub const INFORMANDACTIVATE: i32 = 19;
}

/// The name ZooKeeper gives packet type `t`, or `"UNKNOWN(t)"`.
pub fn kind_name(t: i32) -> String {
    let name = match t {
        kind::REQUEST => "REQUEST",
        kind::PROPOSAL => "PROPOSAL",
        kind::ACK => "ACK",
        kind::COMMIT => "COMMIT",
        kind::PING => "PING",
        kind::REVALIDATE => "REVALIDATE",
        kind::SYNC => "SYNC",
        kind::INFORM => "INFORM",
        kind::COMMITANDACTIVATE => "COMMITANDACTIVATE",
        kind::NEWLEADER => "NEWLEADER",
        kind::FOLLOWERINFO => "FOLLOWERINFO",
        kind::UPTODATE => "UPTODATE",
        kind::DIFF => "DIFF",
        kind::TRUNC => "TRUNC",
        kind::SNAP => "SNAP",
        kind::OBSERVERINFO => "OBSERVERINFO",
        kind::LEADERINFO => "LEADERINFO",
        kind::ACKEPOCH => "ACKEPOCH",
        kind::INFORMANDACTIVATE => "INFORMANDACTIVATE",
        _ => return format!("UNKNOWN({t})"),
    };
    name.to_string()
}

/// The type named `name` (as [`kind_name`] spells it, any case).
pub fn kind_from_name(name: &str) -> Option<i32> {
    (1..=19).find(|t| kind_name(*t).eq_ignore_ascii_case(name))
}

/// One whole `QuorumPacket` and the bytes it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Packet type (see [`kind`]).
    pub kind: i32,
    /// The packet's zxid field.
    pub zxid: i64,
    /// Length of the data buffer, −1 for null.
    pub data_len: i32,
    /// The packet exactly as it was on the wire.
    pub bytes: Vec<u8>,
}

/// What the parser hands back: whole packets, or bytes it passes through without parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A whole packet.
    Frame(Frame),
    /// Snapshot bytes after a SNAP packet (including the closing signature).
    Raw(Vec<u8>),
}

impl Chunk {
    /// The bytes to forward.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Frame(f) => &f.bytes,
            Chunk::Raw(b) => b,
        }
    }
}

/// A buffer or string longer than this is taken as a parse error rather than waited for.
const MAX_FIELD: i32 = 256 << 20;

/// The ustring "BenWasHere" as jute writes it: the end of a snapshot sent after SNAP.
const SNAP_SIGNATURE: &[u8] = b"\0\0\0\x0aBenWasHere";

/// An incremental parser for one direction of one quorum connection.
#[derive(Debug)]
pub struct FrameParser {
    buf: Vec<u8>,
    carries_snapshots: bool,
    in_snapshot: bool,
}

impl FrameParser {
    /// A parser; `carries_snapshots` is true for the leader → learner direction, the only one
    /// where a SNAP packet is followed by a raw snapshot.
    pub fn new(carries_snapshots: bool) -> Self {
        FrameParser {
            buf: Vec::new(),
            carries_snapshots,
            in_snapshot: false,
        }
    }

    /// Bytes received but not yet part of a whole packet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next bytes of the stream, returns every chunk now complete, in order.
    /// An error means the stream is not ZooKeeper's quorum protocol (or the parser is wrong);
    /// the caller should stop parsing and forward raw bytes from then on.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Chunk>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if self.in_snapshot {
                match find(&self.buf, SNAP_SIGNATURE) {
                    Some(at) => {
                        let end = at + SNAP_SIGNATURE.len();
                        out.push(Chunk::Raw(self.buf.drain(..end).collect()));
                        self.in_snapshot = false;
                    }
                    None => {
                        // Keep a tail that may be the start of the signature.
                        let keep = SNAP_SIGNATURE.len() - 1;
                        if self.buf.len() > keep {
                            let cut = self.buf.len() - keep;
                            out.push(Chunk::Raw(self.buf.drain(..cut).collect()));
                        }
                        return Ok(out);
                    }
                }
            }
            match frame_len(&self.buf)? {
                None => return Ok(out),
                Some(len) => {
                    let bytes: Vec<u8> = self.buf.drain(..len).collect();
                    let kind = read_i32(&bytes, 0).unwrap_or(0);
                    let zxid = read_i64(&bytes, 4).unwrap_or(0);
                    let data_len = read_i32(&bytes, 12).unwrap_or(-1);
                    if kind == kind::SNAP && self.carries_snapshots {
                        self.in_snapshot = true;
                    }
                    out.push(Chunk::Frame(Frame {
                        kind,
                        zxid,
                        data_len,
                        bytes,
                    }));
                }
            }
        }
    }

    /// Whatever is buffered, for forwarding once parsing has been given up.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// The length of the packet at the start of `b`, `None` if `b` holds only part of it.
fn frame_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0usize;
    // type, zxid
    if b.len() < 12 {
        return Ok(None);
    }
    let t = read_i32(b, 0).unwrap_or(0);
    if !(1..=19).contains(&t) {
        return Err(format!("unknown quorum packet type {t}"));
    }
    at += 12;
    // data buffer
    match sized_field(b, at)? {
        None => return Ok(None),
        Some(next) => at = next,
    }
    // authinfo vector
    let Some(count) = read_i32(b, at) else {
        return Ok(None);
    };
    at += 4;
    if !(-1..=1 << 16).contains(&count) {
        return Err(format!("implausible authinfo count {count}"));
    }
    for _ in 0..count.max(0) {
        for _ in 0..2 {
            match sized_field(b, at)? {
                None => return Ok(None),
                Some(next) => at = next,
            }
        }
    }
    Ok(Some(at))
}

/// Skips a jute buffer/ustring at `at`: the offset after it, `None` if incomplete.
fn sized_field(b: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(len) = read_i32(b, at) else {
        return Ok(None);
    };
    if !(-1..=MAX_FIELD).contains(&len) {
        return Err(format!("implausible field length {len}"));
    }
    let end = at + 4 + len.max(0) as usize;
    Ok((b.len() >= end).then_some(end))
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn read_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_be_bytes(a))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Encodes a packet the way jute would (tests and tools use it).
pub fn encode(kind: i32, zxid: i64, data: Option<&[u8]>, auth: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&zxid.to_be_bytes());
    match data {
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(d) => {
            out.extend_from_slice(&(d.len() as i32).to_be_bytes());
            out.extend_from_slice(d);
        }
    }
    out.extend_from_slice(&(auth.len() as i32).to_be_bytes());
    for (scheme, id) in auth {
        for s in [scheme, id] {
            out.extend_from_slice(&(s.len() as i32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[Chunk]) -> Vec<(i32, i64)> {
        chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Frame(f) => Some((f.kind, f.zxid)),
                Chunk::Raw(_) => None,
            })
            .collect()
    }

    #[test]
    fn whole_packets_in_one_read() {
        let mut stream = encode(kind::FOLLOWERINFO, 0x1_0000_0000, Some(&[1, 2, 3]), &[]);
        stream.extend(encode(kind::PING, 7, None, &[("digest", "a:b")]));
        let mut p = FrameParser::new(false);
        let chunks = p.push(&stream).unwrap();
        assert_eq!(
            frames(&chunks),
            vec![(kind::FOLLOWERINFO, 0x1_0000_0000), (kind::PING, 7)]
        );
        let total: usize = chunks.iter().map(|c| c.bytes().len()).sum();
        assert_eq!(total, stream.len());
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn packets_split_at_every_byte() {
        let mut stream = encode(kind::PROPOSAL, 0x2_0000_0001, Some(b"txn bytes"), &[]);
        stream.extend(encode(
            kind::COMMIT,
            0x2_0000_0001,
            None,
            &[("ip", "1.2.3.4")],
        ));
        stream.extend(encode(kind::UPTODATE, -1, Some(&[]), &[]));
        let mut p = FrameParser::new(true);
        let mut got = Vec::new();
        let mut forwarded = Vec::new();
        for b in &stream {
            for c in p.push(std::slice::from_ref(b)).unwrap() {
                forwarded.extend_from_slice(c.bytes());
                got.push(c);
            }
        }
        assert_eq!(
            frames(&got),
            vec![
                (kind::PROPOSAL, 0x2_0000_0001),
                (kind::COMMIT, 0x2_0000_0001),
                (kind::UPTODATE, -1)
            ]
        );
        assert_eq!(forwarded, stream);
    }

    #[test]
    fn snapshot_bytes_pass_through_until_the_signature() {
        let mut stream = encode(kind::SNAP, 5, None, &[]);
        let snapshot = b"\x00\x00\x00\x02some serialized tree with \xff\xff bytes";
        stream.extend_from_slice(snapshot);
        stream.extend_from_slice(SNAP_SIGNATURE);
        stream.extend(encode(kind::NEWLEADER, 0x3_0000_0000, None, &[]));
        let mut p = FrameParser::new(true);
        let mut got = Vec::new();
        for piece in stream.chunks(5) {
            got.extend(p.push(piece).unwrap());
        }
        assert_eq!(
            frames(&got),
            vec![(kind::SNAP, 5), (kind::NEWLEADER, 0x3_0000_0000)]
        );
        let all: Vec<u8> = got.iter().flat_map(|c| c.bytes().to_vec()).collect();
        assert_eq!(all, stream);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut p = FrameParser::new(false);
        assert!(p.push(&[0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let mut p = FrameParser::new(false);
        let mut bad = encode(kind::PING, 1, None, &[]);
        bad[12..16].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(p.push(&bad).is_err());
    }

    #[test]
    fn names_round_trip() {
        for t in 1..=19 {
            assert_eq!(kind_from_name(&kind_name(t)), Some(t));
        }
        assert_eq!(kind_from_name("uptodate"), Some(kind::UPTODATE));
    }
}
