//! What the client-visible checkers know about each client process, followed from its
//! reports: the session it holds, the server it talks to, and whether the process is crashed
//! or paused. Each checker owns its own instance, so checkers stay independent of one another.

use crate::{ClientEvent, Happening, HappeningKind, Interest};
use std::collections::BTreeMap;
use zab::{ClientId, ServerId, SessionId};

/// What [`Clients::follow`] reads: a checker that follows clients must see these.
pub(crate) const INTEREST: Interest = Interest::of(&[HappeningKind::Client]);

#[derive(Clone, Debug, Default)]
pub(crate) struct Client {
    /// The session the server granted (`NONE` before the first CONNECT_RESPONSE).
    pub session: SessionId,
    /// The negotiated session timeout.
    pub timeout_ms: u32,
    /// The server it last connected or tried to connect to.
    pub server: Option<ServerId>,
    /// A connection is up: replies from `server` reach the client library.
    pub connected: bool,
    /// A server told it the session expired; the client is done with it.
    pub expired: bool,
    /// When the process crashed; it never comes back.
    pub crashed_us: Option<u64>,
    pub paused: bool,
}

impl Client {
    /// Running: not crashed, not paused.
    pub(crate) fn alive(&self) -> bool {
        self.crashed_us.is_none() && !self.paused
    }
}

#[derive(Debug, Default)]
pub(crate) struct Clients {
    clients: BTreeMap<ClientId, Client>,
}

impl Clients {
    /// Follows one happening.
    pub(crate) fn follow(&mut self, h: &Happening<'_>, now_us: u64) {
        let Happening::Client { id, event } = h else {
            return;
        };
        let c = self.clients.entry(*id).or_default();
        match event {
            ClientEvent::Connecting { server } => {
                c.server = Some(*server);
                c.connected = false;
            }
            ClientEvent::Connected {
                session,
                server,
                timeout_ms,
            } => {
                c.session = *session;
                c.server = Some(*server);
                c.timeout_ms = *timeout_ms;
                c.connected = true;
            }
            ClientEvent::Disconnected { .. } => c.connected = false,
            ClientEvent::Expired { .. } => {
                c.expired = true;
                c.connected = false;
            }
            ClientEvent::Crashed => {
                c.crashed_us.get_or_insert(now_us);
                c.connected = false;
            }
            ClientEvent::Paused => c.paused = true,
            ClientEvent::Resumed => c.paused = false,
            ClientEvent::Submitted { .. }
            | ClientEvent::Answered { .. }
            | ClientEvent::Watch { .. }
            | ClientEvent::Recipe(_)
            | ClientEvent::ResourceUsed { .. } => {}
        }
    }

    pub(crate) fn get(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(&id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ClientId, &Client)> {
        self.clients.iter().map(|(id, c)| (*id, c))
    }
}
