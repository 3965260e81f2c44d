//! Runs a real ZooKeeper 3.8.0 ensemble as processes on loopback, injects faults into it and
//! observes what it did, so the simulator's behaviour can be compared with the real thing.
//!
//! This crate does real I/O with wall-clock time, unlike the simulator crates. It depends on
//! one of them only: the real clients ([`client`]) run the simulator's own client programs,
//! `zab::client::Program`, which are sans-IO and so run on a real session as they run in
//! simulation. [`Ensemble`] writes one directory per server (`zoo.cfg`, `data/myid`, a
//! log configuration), starts `QuorumPeerMain` for each, and offers crash (SIGKILL), restart,
//! pause (SIGSTOP), resume, network cuts and packet triggers; [`Control::outcome`] gathers
//! `srvr` answers, epoch files, transaction-log zxids, role/election events from the servers'
//! own logs, and every quorum packet the proxies carried.
//!
//! # The proxy
//!
//! Servers never talk to each other directly. Server N's `zoo.cfg` lists every other server M
//! at an address owned by the harness, `127.1.N.M`, whose proxy forwards to M's real quorum
//! and election ports. Because each ordered pair has its own listening address, the accepting
//! socket says which pair a connection belongs to, so the harness can cut N→M, M→N or both,
//! per pair, without touching the kernel's firewall, and can see every ZAB packet in both
//! directions.
//!
//! Per-server views of the peers' addresses are fine for a static configuration in 3.8.0:
//! a learner finds its leader in its own view (`Learner.findLeader`, Learner.java:273-285),
//! the election manager dials peers from its own view (`QuorumCnxManager.connectOne`,
//! QuorumCnxManager.java:742-764), and a configuration carried in election notifications or
//! in NEWLEADER is only adopted when its version is newer (FastLeaderElection.java:308;
//! QuorumPeer.java:1939 and, with reconfig disabled, :1891), and every static configuration
//! has version 0. One thing would route around the proxy: when a server with a smaller id
//! dials a bigger one, the bigger one hangs up and dials back at the address the smaller one
//! *advertised* in its initial message (QuorumCnxManager.java:603-613, :655-656), which is the
//! smaller one's own address for itself (:487-495). A wildcard address is not taken from that
//! message (:282, `isWildcardAddress` at :296), and the dial-back then uses the dialer's own
//! view (:658). So each server lists *itself* as `0.0.0.0`: its quorum and election ports are
//! bound on every loopback address (ports differ per server), and every dial-back goes through
//! the right proxy. Client ports stay on the server's own address, `127.0.0.N`.
//!
//! # Faults on the wire
//!
//! A cut link stops forwarding bytes but leaves connections open, and new connections across
//! it are accepted and black-holed: in a real partition nothing arrives and nothing is
//! refused, so ZooKeeper has to notice through its own timeouts (syncLimit on learner reads,
//! the leader's quorum check, election timeouts) rather than through a reset. When the link
//! heals, connections that lost bytes are closed, since TCP cannot resume a stream with a
//! hole in it; the servers reconnect as they would after a real connection loss. A crashed
//! server's unforwarded bytes are discarded with it, so a crash is atomic on the wire.
//!
//! Quorum connections are parsed into packets (see [`packet`]) so the harness can log them
//! and fire triggers: "when server X sends its nth packet of type T, run this callback before
//! forwarding it", with every other connection held until the callback returns.
//!
//! Clients reach the servers through proxies of their own ([`client_proxy`]), which record
//! the client protocol's reply headers (the zxid each answer came at) for the checkers.

pub mod client;
pub mod client_proxy;
pub mod ensemble;
pub mod error;
pub mod fourlw;
pub mod install;
pub mod logparse;
pub mod packet;
pub mod process;
pub mod proxy;
pub mod spec;
pub mod txnlog;

pub use client::{
    run_clients, ClientControl, ClientRecord, ClientsRun, ClientsSpec, RunningClients, TimedEvent,
};
pub use ensemble::{Control, Ensemble, Outcome, ServerOutcome};
pub use error::{Error, Result};
pub use fourlw::{Mode, Srvr};
pub use install::Install;
pub use logparse::{EventKind, LogEvent};
pub use process::{install_interrupt_handler, processes_mentioning, reap_all};
pub use proxy::{FiredPacket, PacketRecord, TriggerAction, TriggerSpec};
pub use spec::{EnsembleSpec, Layout};
