//! The bare event loop: the simulator's own queue, event type and random streams driving
//! nodes that do nothing but bounce a message on. It is the ceiling the real runs are measured
//! against (`sim bench`): whatever a run costs beyond it is protocol, network bookkeeping and
//! checkers.

use crate::queue::Queue;
use crate::rng::{between, stream, Stream};
use crate::sim::Ev;
use rand::Rng;
use zab::{Channel, Endpoint, Message, ServerId};

/// What a bare loop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BareRun {
    pub events: u64,
    pub sim_us: u64,
}

/// Nodes of the bare loop, and messages kept in flight: as many events as a 5-server write
/// load with three clients keeps queued on average (deliveries, disk writes, timers), so the
/// queue is as deep as in the runs compared with it.
const NODES: u8 = 5;
const IN_FLIGHT: u16 = 400;

/// Pops `events` events. Each delivery to a node sends one PING on to a peer drawn from the
/// network stream, after a delay drawn as the network draws its delays (1 to 5 ms).
pub fn bare_loop(seed: u64, events: u64) -> BareRun {
    let mut rng = stream(seed, Stream::Network as u64);
    let mut queue: Queue<Ev> = Queue::default();
    let delay_us = (1000, 5000);
    let node = |i: u16| Endpoint::Server(ServerId((i % u16::from(NODES)) as u8 + 1));
    for i in 0..IN_FLIGHT {
        let at = between(&mut rng, delay_us);
        let ev = Ev::Deliver {
            from: node(i),
            to: node(i + 1 + i / u16::from(NODES) % (u16::from(NODES) - 1)),
            channel: Channel::Quorum,
            conn: 0,
            gen: 0,
            msg: Message::Ping {
                sessions: Vec::new(),
            },
        };
        queue.push(at, ev);
    }
    let mut done = 0;
    let mut now = 0;
    while done < events {
        let Some((at, ev)) = queue.pop() else {
            break;
        };
        now = at;
        done += 1;
        let Ev::Deliver { to, msg, .. } = ev else {
            unreachable!("the bare loop only delivers");
        };
        let Endpoint::Server(me) = to else {
            unreachable!("the bare loop has no clients");
        };
        let peer = (me.0 + rng.gen_range(0..NODES - 1)) % NODES + 1;
        let next = Ev::Deliver {
            from: to,
            to: Endpoint::Server(ServerId(peer)),
            channel: Channel::Quorum,
            conn: 0,
            gen: 0,
            msg,
        };
        queue.push(now + between(&mut rng, delay_us), next);
    }
    BareRun {
        events: done,
        sim_us: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_exactly_the_events_asked_for_and_is_deterministic() {
        let a = bare_loop(7, 10_000);
        assert_eq!(a.events, 10_000);
        // 400 messages in flight, each hop 1-5 ms: 10,000 hops take 25 to 125 ms.
        assert!((25_000..=125_000).contains(&a.sim_us), "{a:?}");
        assert_eq!(a, bare_loop(7, 10_000));
        assert_ne!(a.sim_us, bare_loop(8, 10_000).sim_us);
    }
}
