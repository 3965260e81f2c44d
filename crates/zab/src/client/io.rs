//! What goes into a client and what comes out of it.
//!
//! Like a server, a client performs no IO: the simulator hands it one [`ClientInput`] at a time
//! and interprets the [`ClientOutput`]s it pushes. A `Send` to a server the client is not
//! connected to opens the connection; `Close` breaks it.

use crate::client_api::ClientEvent;
use crate::ids::ServerId;
use crate::message::Message;
use serde::Serialize;

/// One input to a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientInput {
    /// A message arrived from the server the client is connected to.
    Receive { from: ServerId, msg: Message },
    /// The connection to `server` broke (partition, reset, the server crashed or closed it);
    /// messages in flight on it are lost.
    Disconnected { server: ServerId },
    /// The client's next deadline ([`crate::client::Client::next_deadline`]) has come:
    /// every timer due by now fires, earliest first.
    Timeout,
}

/// Named deadlines, kept in the client's own timer table. At most one is pending per kind;
/// setting one replaces it.
///
/// The connection timers are checked lazily: a timer that fires early (because traffic moved
/// its deadline since it was set) re-arms itself rather than having every message reset it,
/// which keeps the outputs of a busy connection short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ClientTimer {
    /// The pause before trying the next server: ClientCnxn's random sleep of up to a second
    /// before a reconnect, plus StaticHostProvider's spin delay after a whole round of servers
    /// failed.
    Reconnect,
    /// CONNECT got no answer within the connect timeout (session timeout / number of servers).
    ConnectTimeout,
    /// Connected: nothing heard from the server for the read timeout (2/3 of the session
    /// timeout) means the connection is dead.
    ReadTimeout,
    /// Connected: nothing sent for half the read timeout, so send a ping.
    Ping,
    /// The application program's own deadline (think time, holding a lock, polling).
    Program,
}

impl crate::timers::TimerName for ClientTimer {
    const ALL: &'static [ClientTimer] = &[
        ClientTimer::Reconnect,
        ClientTimer::ConnectTimeout,
        ClientTimer::ReadTimeout,
        ClientTimer::Ping,
        ClientTimer::Program,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// What a client asks its environment to do, and what it reports.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientOutput {
    Send {
        to: ServerId,
        msg: Message,
    },
    /// Close the connection to `to` (the driver breaks it; in-flight messages are lost).
    Close {
        to: ServerId,
    },
    Event(ClientEvent),
}

/// A caller-owned buffer the client pushes into, reused across steps.
#[derive(Clone, Debug, Default)]
pub struct ClientOutputs {
    pub items: Vec<ClientOutput>,
}

impl ClientOutputs {
    pub fn new() -> ClientOutputs {
        ClientOutputs::default()
    }
    pub fn send(&mut self, to: ServerId, msg: Message) {
        self.items.push(ClientOutput::Send { to, msg });
    }
    pub fn close(&mut self, to: ServerId) {
        self.items.push(ClientOutput::Close { to });
    }
    pub fn event(&mut self, event: ClientEvent) {
        self.items.push(ClientOutput::Event(event));
    }
    pub fn clear(&mut self) {
        self.items.clear();
    }
}
