//! The trace: every happening as one JSON line, and a stable hash of the canonical trace.
//!
//! The hash folds in every happening field by field, computed for every run (it is cheap: no
//! formatting, no allocation); the JSON lines are written only when a trace file is asked
//! for.

use check::Happening;
use serde::Serialize;
use std::hash::{Hash, Hasher};
use std::io::Write;
use zab::client_api::ClientEvent;
use zab::{DiskOp, Endpoint, Message, ServerId};

/// A 64-bit hash folded one word at a time (FxHash's rotate, xor, multiply). Stable across
/// runs of one build, which is all a trace hash promises: two runs agree or they do not.
/// (Events fold in through their derived `Hash`, which feeds some values as native-endian
/// bytes and whose calls a new Rust release could change; hashes are compared within one
/// build.) It is no defence against crafted collisions, and need not be.
#[derive(Clone, Copy, Debug)]
pub struct TraceHash(pub u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    pub fn u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    /// Eight bytes at a time, then the length, so that `"ab"` then `"c"` differs from `"a"`
    /// then `"bc"`.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.u64(u64::from_le_bytes(last));
        self.u64(bytes.len() as u64);
    }

    fn id(&mut self, id: ServerId) {
        self.u64(u64::from(id.0));
    }
}

/// Events, client reports and what they hold fold themselves in with their derived `Hash`,
/// so the hash follows their one definition: a new field or variant is in it at once.
impl Hasher for TraceHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.bytes(bytes);
    }
    fn write_u8(&mut self, v: u8) {
        self.u64(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.u64(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.u64(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.u64(v as u64);
    }
    fn write_i32(&mut self, v: i32) {
        self.u64(v as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.u64(v as u64);
    }
    fn write_isize(&mut self, v: isize) {
        self.u64(v as u64);
    }
}

fn endpoint_code(e: Endpoint) -> u64 {
    match e {
        Endpoint::Server(s) => u64::from(s.0),
        Endpoint::Client(c) => 1 << 16 | u64::from(c.0),
    }
}

/// Folds one happening into the hash.
pub fn hash(h: &mut TraceHash, now: u64, happening: &Happening<'_>) {
    h.u64(now);
    match happening {
        Happening::Server { id, event } => {
            h.u64(1);
            h.id(*id);
            event.hash(h);
        }
        Happening::Send { from, to, msg } | Happening::Deliver { from, to, msg } => {
            h.u64(if matches!(happening, Happening::Send { .. }) {
                2
            } else {
                3
            });
            h.u64(endpoint_code(*from));
            h.u64(endpoint_code(*to));
            h.u64(message_code(msg));
            h.u64(msg.zxid().map(|z| z.0).unwrap_or(0));
        }
        Happening::DiskIssued { id, op } | Happening::DiskDurable { id, op } => {
            h.u64(if matches!(happening, Happening::DiskIssued { .. }) {
                4
            } else {
                5
            });
            h.id(*id);
            h.u64(disk_op_code(op));
        }
        Happening::Crash { id } => {
            h.u64(6);
            h.id(*id);
        }
        Happening::Restart { id } => {
            h.u64(7);
            h.id(*id);
        }
        Happening::Pause { id } => {
            h.u64(8);
            h.id(*id);
        }
        Happening::Resume { id } => {
            h.u64(9);
            h.id(*id);
        }
        Happening::Network => h.u64(10),
        Happening::LivenessDeadline { faults_over_us } => {
            h.u64(11);
            h.u64(*faults_over_us);
        }
        Happening::InitiallyCommitted { upto } => {
            h.u64(12);
            h.u64(upto.0);
        }
        Happening::Client { id, event } => {
            h.u64(13);
            h.u64(u64::from(id.0));
            event.hash(h);
        }
    }
}

/// Which packet a message is. The match names every variant, so a new one cannot share a
/// code by accident.
fn message_code(msg: &Message) -> u64 {
    match msg {
        Message::Notification(_) => 1,
        Message::FollowerInfo { .. } => 2,
        Message::ObserverInfo { .. } => 3,
        Message::LeaderInfo { .. } => 4,
        Message::AckEpoch { .. } => 5,
        Message::Diff { .. } => 6,
        Message::Trunc { .. } => 7,
        Message::Snap { .. } => 8,
        Message::NewLeader { .. } => 9,
        Message::UpToDate => 10,
        Message::Proposal { .. } => 11,
        Message::Ack { .. } => 12,
        Message::Commit { .. } => 13,
        Message::Inform { .. } => 14,
        Message::Ping { .. } => 15,
        Message::Request(_) => 16,
        Message::ClientRequest { .. } => 17,
        Message::ClientReply { .. } => 18,
        Message::Revalidate { .. } => 19,
        Message::Sync { .. } => 20,
        Message::Connect { .. } => 21,
        Message::ConnectResponse { .. } => 22,
        Message::ClientPing => 23,
        Message::WatcherEvent(_) => 24,
        Message::SetWatches { .. } => 25,
    }
}

fn disk_op_code(op: &DiskOp) -> u64 {
    match op {
        DiskOp::Append(t) => t.zxid.0,
        DiskOp::AppendToNewFile(t) => 1 << 57 | t.zxid.0,
        DiskOp::Truncate(z) => 1 << 63 | z.0,
        DiskOp::Snapshot { snapshot, .. } => 1 << 62 | snapshot.zxid.0,
        DiskOp::AcceptedEpoch(e) => 1 << 61 | e,
        DiskOp::CurrentEpoch(e) => 1 << 60 | e,
        DiskOp::UpdatingEpoch(on) => 1 << 59 | u64::from(*on),
        DiskOp::DropSnapshotsAfter(z) => 1 << 58 | z.0,
    }
}

/// One trace line.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line<'a> {
    Event {
        t_us: u64,
        server: String,
        event: &'a zab::Event,
    },
    Send {
        t_us: u64,
        from: String,
        to: String,
        msg: &'static str,
        zxid: Option<String>,
        body: &'a Message,
    },
    Deliver {
        t_us: u64,
        from: String,
        to: String,
        msg: &'static str,
        zxid: Option<String>,
    },
    DiskIssued {
        t_us: u64,
        server: String,
        op: &'a DiskOp,
    },
    DiskDurable {
        t_us: u64,
        server: String,
        op: &'a DiskOp,
    },
    Crash {
        t_us: u64,
        server: String,
    },
    Restart {
        t_us: u64,
        server: String,
    },
    Pause {
        t_us: u64,
        server: String,
    },
    Resume {
        t_us: u64,
        server: String,
    },
    Network {
        t_us: u64,
        partitions: &'a [Vec<Vec<String>>],
    },
    Client {
        t_us: u64,
        client: String,
        event: &'a ClientEvent,
    },
    InitiallyCommitted {
        t_us: u64,
        upto: String,
    },
    LivenessDeadline {
        t_us: u64,
        faults_over_us: u64,
    },
    Fault {
        t_us: u64,
        fault: &'a str,
    },
    /// A leader established its epoch, with how long the ensemble had no established
    /// leader before: the simulator's own election record, so readers of the trace need not
    /// work out election timing again.
    Election {
        t_us: u64,
        epoch: u64,
        leader: String,
        started_us: u64,
        established_us: u64,
    },
    /// An invariant broke here; reports draw what led up to it without waiting for the end.
    Violation {
        t_us: u64,
        invariant: &'a str,
        server: Option<String>,
        message: &'a str,
    },
}

/// Writes JSON lines to a sink.
pub struct TraceWriter {
    sink: Box<dyn Write>,
    pub error: Option<std::io::Error>,
}

impl TraceWriter {
    pub fn new(sink: Box<dyn Write>) -> TraceWriter {
        TraceWriter { sink, error: None }
    }

    fn line(&mut self, line: &Line<'_>) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.sink, line)
            .map_err(std::io::Error::from)
            .and_then(|_| self.sink.write_all(b"\n"));
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    pub fn happening(&mut self, now: u64, h: &Happening<'_>, partitions: &[Vec<Vec<String>>]) {
        let s = |id: zab::ServerId| id.to_string();
        let line = match h {
            Happening::Server { id, event } => Line::Event {
                t_us: now,
                server: s(*id),
                event,
            },
            Happening::Send { from, to, msg } => Line::Send {
                t_us: now,
                from: from.to_string(),
                to: to.to_string(),
                msg: msg.name(),
                zxid: msg.zxid().map(|z| z.to_string()),
                body: msg,
            },
            Happening::Deliver { from, to, msg } => Line::Deliver {
                t_us: now,
                from: from.to_string(),
                to: to.to_string(),
                msg: msg.name(),
                zxid: msg.zxid().map(|z| z.to_string()),
            },
            Happening::DiskIssued { id, op } => Line::DiskIssued {
                t_us: now,
                server: s(*id),
                op,
            },
            Happening::DiskDurable { id, op } => Line::DiskDurable {
                t_us: now,
                server: s(*id),
                op,
            },
            Happening::Crash { id } => Line::Crash {
                t_us: now,
                server: s(*id),
            },
            Happening::Restart { id } => Line::Restart {
                t_us: now,
                server: s(*id),
            },
            Happening::Pause { id } => Line::Pause {
                t_us: now,
                server: s(*id),
            },
            Happening::Resume { id } => Line::Resume {
                t_us: now,
                server: s(*id),
            },
            Happening::Network => Line::Network {
                t_us: now,
                partitions,
            },
            Happening::LivenessDeadline { faults_over_us } => Line::LivenessDeadline {
                t_us: now,
                faults_over_us: *faults_over_us,
            },
            Happening::Client { id, event } => Line::Client {
                t_us: now,
                client: id.to_string(),
                event,
            },
            Happening::InitiallyCommitted { upto } => Line::InitiallyCommitted {
                t_us: now,
                upto: upto.to_string(),
            },
        };
        self.line(&line);
    }

    pub fn fault(&mut self, now: u64, fault: &str) {
        self.line(&Line::Fault { t_us: now, fault });
    }

    pub fn election(&mut self, e: &crate::outcome::ElectionRecord) {
        self.line(&Line::Election {
            t_us: e.established_us,
            epoch: e.epoch,
            leader: e.leader.to_string(),
            started_us: e.started_us,
            established_us: e.established_us,
        });
    }

    pub fn violation(&mut self, now: u64, v: &check::Violation) {
        self.line(&Line::Violation {
            t_us: now,
            invariant: v.invariant,
            server: v.server.map(|s| s.to_string()),
            message: &v.message,
        });
    }

    pub fn flush(&mut self) {
        if let Err(e) = self.sink.flush() {
            self.error.get_or_insert(e);
        }
    }
}
