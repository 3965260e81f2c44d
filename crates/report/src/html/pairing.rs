//! Pairs each delivery with the send it came from, so a sequence diagram can draw arrows.
//!
//! The trace records sends and deliveries as separate lines without a message id. Each
//! connection is FIFO (the simulator's default), so a delivery belongs to the oldest pending
//! send on its connection with the same name and zxid, and any older pending message on that
//! connection was dropped. A crash or a partition breaks connections and loses what was on
//! them; a send into a partition or to a crashed server is lost at once.

use super::line::Endpoint;
use std::collections::{BTreeMap, VecDeque};

/// A connection: its two ends and whether it carries election traffic (ZooKeeper keeps
/// elections and the quorum protocol on separate connections).
type Conn = (Endpoint, Endpoint, bool);

struct Pending {
    id: u64,
    name: String,
    zxid: Option<String>,
    sent_us: u64,
}

#[derive(Default)]
pub struct Pairing {
    next_id: u64,
    pending: BTreeMap<Conn, VecDeque<Pending>>,
}

fn conn(from: Endpoint, to: Endpoint, name: &str) -> Conn {
    (from, to, name == "NOTIFICATION")
}

impl Pairing {
    /// Numbers a sent message; `dropped` when it cannot arrive (the receiver is down or cut
    /// off), so that it is never paired with a later delivery.
    pub fn send(
        &mut self,
        t_us: u64,
        from: Endpoint,
        to: Endpoint,
        name: &str,
        zxid: Option<&str>,
        dropped: bool,
    ) -> u64 {
        self.next_id += 1;
        if !dropped {
            self.pending
                .entry(conn(from, to, name))
                .or_default()
                .push_back(Pending {
                    id: self.next_id,
                    name: name.to_string(),
                    zxid: zxid.map(str::to_string),
                    sent_us: t_us,
                });
        }
        self.next_id
    }

    /// The id and send time of the message this delivery carries, if its send is known.
    pub fn deliver(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        name: &str,
        zxid: Option<&str>,
    ) -> Option<(u64, u64)> {
        let key = conn(from, to, name);
        let queue = self.pending.get_mut(&key)?;
        let at = queue
            .iter()
            .position(|p| p.name == name && p.zxid.as_deref() == zxid)?;
        // Everything sent before it on this connection and not delivered was lost.
        let found = queue
            .drain(..=at)
            .next_back()
            .expect("position is in range");
        if queue.is_empty() {
            self.pending.remove(&key);
        }
        Some((found.id, found.sent_us))
    }

    /// Whether a message is still on its way.
    pub fn in_flight(&self, id: u64, from: Endpoint, to: Endpoint, name: &str) -> bool {
        self.pending
            .get(&conn(from, to, name))
            .is_some_and(|q| q.iter().any(|p| p.id == id))
    }

    /// A crash loses every message to or from the server.
    pub fn crash(&mut self, server: Endpoint) {
        self.pending
            .retain(|(from, to, _), _| *from != server && *to != server);
    }

    /// A partition loses what is on the connections it cuts.
    pub fn cut(&mut self, blocked: impl Fn(Endpoint, Endpoint) -> bool) {
        self.pending
            .retain(|(from, to, _), _| !blocked(*from, *to) && !blocked(*to, *from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: Endpoint = Endpoint::Server(1);
    const S2: Endpoint = Endpoint::Server(2);

    #[test]
    fn a_delivery_takes_the_oldest_matching_send_and_drops_older_ones() {
        let mut p = Pairing::default();
        let a = p.send(10, S1, S2, "PROPOSAL", Some("1:1"), false);
        let b = p.send(20, S1, S2, "PROPOSAL", Some("1:2"), false);
        let c = p.send(30, S1, S2, "PROPOSAL", Some("1:2"), false);
        assert_eq!(p.deliver(S1, S2, "PROPOSAL", Some("1:2")), Some((b, 20)));
        assert!(
            !p.in_flight(a, S1, S2, "PROPOSAL"),
            "overtaken on a FIFO connection: lost"
        );
        assert!(p.in_flight(c, S1, S2, "PROPOSAL"));
        assert_eq!(p.deliver(S1, S2, "PROPOSAL", Some("1:2")), Some((c, 30)));
        assert_eq!(p.deliver(S1, S2, "PROPOSAL", Some("1:2")), None);
    }

    #[test]
    fn elections_and_quorum_traffic_are_separate_connections() {
        let mut p = Pairing::default();
        let vote = p.send(1, S1, S2, "NOTIFICATION", Some("0:0"), false);
        let ping = p.send(2, S1, S2, "PING", None, false);
        assert_eq!(p.deliver(S1, S2, "PING", None), Some((ping, 2)));
        assert!(p.in_flight(vote, S1, S2, "NOTIFICATION"));
    }

    #[test]
    fn crashes_partitions_and_dropped_sends_are_never_delivered() {
        let mut p = Pairing::default();
        let a = p.send(1, S1, S2, "ACK", Some("1:1"), false);
        p.crash(S2);
        assert!(!p.in_flight(a, S1, S2, "ACK"));
        assert_eq!(p.deliver(S1, S2, "ACK", Some("1:1")), None);
        let b = p.send(2, S1, S2, "ACK", Some("1:1"), false);
        p.cut(|from, to| from == S2 && to == S1);
        assert!(
            !p.in_flight(b, S1, S2, "ACK"),
            "a cut breaks the connection both ways"
        );
        p.send(3, S1, S2, "ACK", Some("1:1"), true);
        assert_eq!(p.deliver(S1, S2, "ACK", Some("1:1")), None);
    }
}
