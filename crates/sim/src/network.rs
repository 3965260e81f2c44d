//! A TCP-like network: one FIFO connection per pair of endpoints and channel.
//!
//! A connection delivers in order (unless the scenario asks for reordering) after a drawn
//! delay. Breaking a connection (partition, reset, crash, close) bumps its generation: every
//! message still in flight on it is lost, and the ends are told.
//!
//! The network decides what becomes of a message (on the wire until a drawn time, waiting in
//! the election send queue, or lost with a broken connection, and who must be told); the
//! event loop only schedules what it decides.

use crate::rng::between;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use zab::{Channel, Endpoint, Message};

/// How long QuorumCnxManager's SendWorker takes to write one notification to its socket.
/// Votes produced faster than this wait in the one-slot send queue, where a newer vote
/// replaces an older one; without this bound a vote circle (zk-1419) would multiply messages
/// without limit in zero simulated time.
const VOTE_WRITE_US: u64 = 100;

/// The scenario's `[network]` settings, with the stream its delays and resets come from.
pub struct Transport {
    pub rng: ChaCha8Rng,
    /// Delivery delay range.
    pub delay_us: (u64, u64),
    /// Chance that a send finds its connection reset.
    pub reset: f64,
    /// Connection resets are a fault family: with `[random]` they stop when it does, so that
    /// the liveness phase is calm.
    pub reset_until_us: u64,
    pub reorder: bool,
}

/// What became of a message handed to the network.
#[derive(Debug)]
pub enum Sent {
    /// On the wire: it arrives as described unless the connection breaks first.
    Wire(Wire),
    /// Waits in the election send queue until the SendWorker is free at `at` (then
    /// [`Network::take_queued_vote`]); `gen` is the connection's generation now.
    VoteQueued { at: u64, gen: u64 },
    /// Replaced an older vote still waiting in the send queue.
    VoteReplaced,
    /// Lost with a broken connection: the sender finds out, and the receiver too if
    /// `tell_receiver` (its side of the connection was open).
    Broken {
        tell_sender: bool,
        tell_receiver: bool,
    },
}

/// A message on the wire.
#[derive(Debug)]
pub struct Wire {
    pub at: u64,
    /// The connection ([`Network::index_of`]) and its generation when the message left.
    pub conn: u32,
    pub gen: u64,
    pub msg: Message,
}

/// Unordered endpoint pair plus channel.
pub type ConnKey = (Endpoint, Endpoint, Channel);

pub fn conn_key(a: Endpoint, b: Endpoint, channel: Channel) -> ConnKey {
    if a <= b {
        (a, b, channel)
    } else {
        (b, a, channel)
    }
}

#[derive(Debug, Default)]
pub struct Conn {
    pub gen: u64,
    /// A message went through since the last break, so a break must be reported.
    pub open: bool,
    /// Broken and not yet reconnected: a quorum or client connection carries nothing until
    /// the side that connects (a learner, a client) opens a new one.
    pub dead: bool,
    /// Latest scheduled delivery per direction (low→high, high→low), for FIFO order.
    pub last_delivery: [u64; 2],
    /// Quorum and client connections: the generation each end (low, high) holds a socket
    /// of, the one it opened or last took a message from. An end still on an older
    /// one writes to a socket the other end has closed and replaced: a leader's handler of
    /// a learner's earlier connection cannot write into the learner's new one.
    pub seen: [u64; 2],
    /// Election channel: the one notification waiting in the send queue per direction.
    /// QuorumCnxManager's send queue holds a single message (`SEND_CAPACITY = 1`), so a newer
    /// vote replaces an older one that has not left yet.
    pub queued_vote: [Option<zab::Message>; 2],
    /// Election channel: until when the SendWorker is busy writing the previous notification,
    /// per direction. A vote sent meanwhile waits in the send queue.
    pub vote_busy_until: [u64; 2],
}

/// An active partition: `from` groups cannot reach `to` groups.
#[derive(Debug, Clone)]
pub struct Partition {
    pub id: u64,
    /// Which group each endpoint is in; endpoints not listed are unaffected.
    pub groups: BTreeMap<Endpoint, usize>,
    pub one_way: bool,
}

impl Partition {
    /// Does this partition stop a message from `from` to `to`? One-way partitions stop
    /// group 0 from reaching the other groups only.
    pub fn blocks(&self, from: Endpoint, to: Endpoint) -> bool {
        match (self.groups.get(&from), self.groups.get(&to)) {
            (Some(a), Some(b)) if a != b => !self.one_way || *a == 0,
            _ => false,
        }
    }
}

/// Looks connections up by key. Connections are never removed, so an index into `all` stays
/// valid; the map is only ever searched, never iterated, so its order cannot leak into a run.
/// Keyed by [`packed`] keys: one integer hashes in two multiplies, where the tuple's derived
/// hash takes one per field and discriminant.
type ConnIndex = HashMap<u128, u32, BuildHasherDefault<KeyHasher>>;

/// A connection key as one integer, distinct for distinct keys.
fn packed((a, b, channel): ConnKey) -> u128 {
    fn endpoint(e: Endpoint) -> u128 {
        match e {
            Endpoint::Server(s) => u128::from(s.0),
            Endpoint::Client(c) => 1 << 32 | u128::from(c.0),
        }
    }
    endpoint(a) << 64 | endpoint(b) << 8 | channel as u128
}

pub struct Network {
    /// Every connection used so far, in the order first used.
    all: Vec<(ConnKey, Conn)>,
    index: ConnIndex,
    pub partitions: Vec<Partition>,
    transport: Transport,
}

impl Network {
    pub fn new(transport: Transport) -> Network {
        Network {
            all: Vec::new(),
            index: ConnIndex::default(),
            partitions: Vec::new(),
            transport,
        }
    }

    /// A drawn delivery delay, also how long news of a broken connection takes.
    pub fn delay(&mut self) -> u64 {
        between(&mut self.transport.rng, self.transport.delay_us).max(1)
    }

    /// Sends `msg` from `from` to `to` at `now`; `to_up` says whether the receiver runs.
    pub fn send(
        &mut self,
        now: u64,
        (from, to, channel): ConnKey,
        msg: Message,
        to_up: bool,
    ) -> Sent {
        let key = conn_key(from, to, channel);
        // Election connections break silently: QuorumCnxManager reconnects on the next send.
        let quorum_or_client = channel != Channel::Election;
        if !to_up || self.blocked(from, to) {
            let was_open = self.break_conn(key);
            return Sent::Broken {
                tell_sender: quorum_or_client,
                tell_receiver: quorum_or_client && was_open,
            };
        }
        let t = &mut self.transport;
        if t.reset > 0.0 && now < t.reset_until_us && t.rng.gen_bool(t.reset) {
            self.break_conn(key);
            return Sent::Broken {
                tell_sender: quorum_or_client,
                tell_receiver: quorum_or_client,
            };
        }
        let conn = self.index_of(key);
        if quorum_or_client && self.at(conn).dead {
            if !opens_connection(&msg) {
                // A write on a broken socket fails; the sender finds out.
                return Sent::Broken {
                    tell_sender: true,
                    tell_receiver: false,
                };
            }
            // A new socket: news of the old one's failure still on its way is not about it.
            let c = self.at(conn);
            c.dead = false;
            c.gen += 1;
        }
        if quorum_or_client {
            let end = usize::from(key.0 != from);
            let c = self.at(conn);
            if opens_connection(&msg) {
                c.seen[end] = c.gen;
            } else if c.seen[end] != c.gen {
                // The other end reconnected since this end's socket was current (its opening
                // message may still be on the way). The write goes to the old socket, which
                // the other end closed; this end's handler of it is replaced when the new
                // connection's first message arrives, so nobody is told.
                return Sent::Broken {
                    tell_sender: false,
                    tell_receiver: false,
                };
            }
        }
        if channel == Channel::Election {
            let dir = usize::from(key.0 != from);
            let c = self.at(conn);
            if now < c.vote_busy_until[dir] {
                // The SendWorker is still writing: wait in the queue, replacing an older vote.
                return if c.queued_vote[dir].replace(msg).is_none() {
                    Sent::VoteQueued {
                        at: c.vote_busy_until[dir],
                        gen: c.gen,
                    }
                } else {
                    Sent::VoteReplaced
                };
            }
        }
        Sent::Wire(self.transmit_on(now, conn, (from, to, channel), msg))
    }

    /// The vote waiting in the send queue from `from` to `to`, once the SendWorker is free,
    /// on the wire; nothing if the connection broke since (`gen`) or the queue is empty.
    pub fn send_queued_vote(
        &mut self,
        now: u64,
        from: Endpoint,
        to: Endpoint,
        gen: u64,
    ) -> Option<Wire> {
        let key = conn_key(from, to, Channel::Election);
        if self.gen(&key) != gen {
            return None;
        }
        let dir = usize::from(key.0 != from);
        let msg = self.conn(key).queued_vote[dir].take()?;
        let conn = self.index_of(key);
        Some(self.transmit_on(now, conn, (from, to, Channel::Election), msg))
    }

    /// Puts a message on the wire of connection `conn`: delivered after a drawn delay, in
    /// order unless the scenario allows reordering.
    fn transmit_on(
        &mut self,
        now: u64,
        conn: u32,
        (from, to, channel): ConnKey,
        msg: Message,
    ) -> Wire {
        let dir = usize::from(conn_key(from, to, channel).0 != from);
        let delay = self.delay();
        let reorder = self.transport.reorder;
        let c = self.at(conn);
        c.open = true;
        let at = if reorder {
            now + delay
        } else {
            (now + delay).max(c.last_delivery[dir])
        };
        c.last_delivery[dir] = at;
        if channel == Channel::Election {
            c.vote_busy_until[dir] = now + VOTE_WRITE_US;
        }
        Wire {
            at,
            conn,
            gen: c.gen,
            msg,
        }
    }

    /// Closes a connection the way a socket close does: what was already written still
    /// arrives, then the peer sees the connection end. Returns when it ends and the
    /// connection's generation now (if it is reopened meanwhile, the close is void).
    pub fn close_after_flush(&mut self, now: u64, (from, to, channel): ConnKey) -> (u64, u64) {
        let key = conn_key(from, to, channel);
        let dir = usize::from(key.0 != from);
        let c = self.conn(key);
        (c.last_delivery[dir].max(now), c.gen)
    }

    /// Active partitions as named groups, for the trace.
    pub fn partition_names(&self) -> Vec<Vec<Vec<String>>> {
        self.partitions
            .iter()
            .map(|p| {
                let n = p.groups.values().max().map(|m| m + 1).unwrap_or(0);
                (0..n)
                    .map(|g| {
                        p.groups
                            .iter()
                            .filter(|(_, i)| **i == g)
                            .map(|(e, _)| e.to_string())
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    pub fn blocked(&self, from: Endpoint, to: Endpoint) -> bool {
        self.partitions.iter().any(|p| p.blocks(from, to))
    }

    pub fn conn(&mut self, key: ConnKey) -> &mut Conn {
        let i = self.index_of(key);
        self.at(i)
    }

    /// The connection's number, for [`Network::at`]: stable, since connections are never
    /// removed, so an event can carry it instead of looking its connection up again.
    pub fn index_of(&mut self, key: ConnKey) -> u32 {
        match self.index.get(&packed(key)) {
            Some(i) => *i,
            None => {
                self.all.push((key, Conn::default()));
                let i = (self.all.len() - 1) as u32;
                self.index.insert(packed(key), i);
                i
            }
        }
    }

    pub fn at(&mut self, i: u32) -> &mut Conn {
        &mut self.all[i as usize].1
    }

    pub fn gen(&self, key: &ConnKey) -> u64 {
        self.index
            .get(&packed(*key))
            .map_or(0, |i| self.all[*i as usize].1.gen)
    }

    pub fn gen_at(&self, i: u32) -> u64 {
        self.all[i as usize].1.gen
    }

    /// `to` took a message of the connection's current generation: that end now holds a
    /// socket of this generation. Called when the message is fed to `to`'s machine, not when
    /// it arrives at a paused one: until then `to` still answers on the socket it knew.
    pub fn received(&mut self, conn: u32, to: Endpoint) {
        let (key, c) = &mut self.all[conn as usize];
        c.seen[usize::from(key.0 != to)] = c.gen;
    }

    /// Breaks a connection; returns whether it was open (its ends must be told).
    pub fn break_conn(&mut self, key: ConnKey) -> bool {
        let c = self.conn(key);
        c.gen += 1;
        c.dead = true;
        c.queued_vote = [None, None];
        c.vote_busy_until = [0, 0];
        std::mem::take(&mut c.open)
    }

    /// The connections an endpoint takes part in, in key order.
    pub fn conns_of(&self, e: Endpoint) -> Vec<ConnKey> {
        self.sorted_keys(|k, _| k.0 == e || k.1 == e)
    }

    /// Open connections an endpoint takes part in, in key order.
    pub fn open_conns_of(&self, e: Endpoint) -> Vec<ConnKey> {
        self.sorted_keys(|k, c| c.open && (k.0 == e || k.1 == e))
    }

    /// Open connections that a partition now cuts, in key order.
    pub fn open_conns_cut(&self) -> Vec<ConnKey> {
        self.sorted_keys(|k, c| c.open && (self.blocked(k.0, k.1) || self.blocked(k.1, k.0)))
    }

    /// Keys of the connections that pass `keep`, sorted: what a fault does to several
    /// connections it does in key order, whatever order they were first used in.
    fn sorted_keys(&self, keep: impl Fn(&ConnKey, &Conn) -> bool) -> Vec<ConnKey> {
        let mut keys: Vec<ConnKey> = self
            .all
            .iter()
            .filter(|(k, c)| keep(k, c))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        keys
    }
}

/// The first message on a new quorum or client connection: only the connecting side (a
/// learner, a client) can re-establish a broken one. Election connections are re-established
/// by QuorumCnxManager on any send.
fn opens_connection(msg: &Message) -> bool {
    matches!(
        msg,
        Message::FollowerInfo { .. } | Message::ObserverInfo { .. } | Message::Connect { .. }
    )
}

/// A fast hasher for connection keys (a few small integers): FxHash's rotate, xor and
/// multiply. Fixed, so lookups behave the same in every run.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_isize(&mut self, v: isize) {
        self.write_u64(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::ServerId;

    fn s(i: u8) -> Endpoint {
        Endpoint::Server(ServerId(i))
    }

    #[test]
    fn one_way_partition_blocks_only_group_zero_outbound() {
        let p = Partition {
            id: 1,
            groups: [(s(1), 0), (s(2), 1), (s(3), 1)].into(),
            one_way: true,
        };
        assert!(p.blocks(s(1), s(2)));
        assert!(!p.blocks(s(2), s(1)));
        assert!(!p.blocks(s(2), s(3)));
        let p = Partition {
            one_way: false,
            ..p
        };
        assert!(p.blocks(s(2), s(1)));
    }

    /// A leader that still holds the socket of a learner's earlier connection cannot write
    /// into the learner's new one; once the new connection's first message arrives it can.
    #[test]
    fn an_end_still_on_an_old_connection_cannot_write_into_the_new_one() {
        let mut net = Network::new(Transport {
            rng: crate::rng::stream(1, 2),
            delay_us: (1, 1),
            reset: 0.0,
            reset_until_us: 0,
            reorder: false,
        });
        let (learner, leader) = (s(4), s(5));
        let info = Message::FollowerInfo { accepted_epoch: 2 };
        let leader_info = Message::LeaderInfo { epoch: 3 };
        let Sent::Wire(w) = net.send(0, (learner, leader, Channel::Quorum), info.clone(), true)
        else {
            panic!("the first FOLLOWERINFO goes out");
        };
        net.received(w.conn, leader);
        // The learner gives up on that connection and connects again.
        net.break_conn(conn_key(learner, leader, Channel::Quorum));
        let Sent::Wire(w) = net.send(10, (learner, leader, Channel::Quorum), info, true) else {
            panic!("a new connection opens");
        };
        // The leader answers the earlier FOLLOWERINFO before the new one reaches it.
        let stale = net.send(
            11,
            (leader, learner, Channel::Quorum),
            leader_info.clone(),
            true,
        );
        assert!(
            matches!(
                stale,
                Sent::Broken {
                    tell_sender: false,
                    tell_receiver: false
                }
            ),
            "{stale:?}"
        );
        net.received(w.conn, leader);
        let fresh = net.send(12, (leader, learner, Channel::Quorum), leader_info, true);
        assert!(matches!(fresh, Sent::Wire(_)), "{fresh:?}");
    }
}
