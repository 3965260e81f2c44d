//! The client-facing side of a server: ZooKeeperServer's request pipeline, reduced to what
//! the simulated clients need.
//!
//! A server answers clients only while it serves (BROADCAST): ZooKeeper refuses client
//! connections while a server is looking or syncing, and drops them all when it leaves its
//! role, so a client fails over to another server. Writes go to the leader (a follower or
//! observer forwards them as REQUEST); the server the client is connected to answers once the
//! txn is committed and applied there, as FinalRequestProcessor does.

use crate::db::Txn;
use crate::ids::{Channel, ClientId, Endpoint};
use crate::io::{Output, Outputs, ZabPhase};
use crate::message::{ClientOp, Message, Request};
use crate::server::{Role, Server};

impl Server {
    pub(crate) fn on_client(&mut self, client: ClientId, msg: Message, out: &mut Outputs) {
        let Message::ClientRequest { cxid, op } = msg else {
            return;
        };
        if self.phase != ZabPhase::Broadcast {
            // "ZooKeeperServer not running": the connection is closed.
            out.items.push(Output::Close {
                peer: Endpoint::Client(client),
                channel: Channel::Client,
            });
            return;
        }
        self.clients.insert(client);
        match op {
            ClientOp::Read { key } => {
                let msg = Message::ClientReply {
                    cxid,
                    zxid: self.tree.last_processed,
                    value: self.tree.kv.get(&key).copied(),
                };
                out.reply(client, msg);
            }
            ClientOp::Write(op) => {
                let req = Request {
                    client,
                    cxid,
                    via: self.id,
                    op,
                };
                match &self.role {
                    Role::Leading(_) => self.propose(req, out),
                    Role::Learning(l) => {
                        out.send(l.leader, Channel::Quorum, Message::Request(req));
                    }
                    Role::Looking(_) | Role::Failed => {}
                }
            }
        }
    }

    /// A committed txn was applied here: answer its client if it is connected to this server.
    pub(crate) fn answer_client(&mut self, txn: &Txn, out: &mut Outputs) {
        let Some(req) = txn.request else { return };
        if self.clients.contains(&req.client) {
            out.reply(
                req.client,
                Message::ClientReply {
                    cxid: req.cxid,
                    zxid: txn.zxid,
                    value: None,
                },
            );
        }
    }

    /// Leaving a role: every client connection is closed, as ZooKeeperServer.shutdown does.
    pub(crate) fn close_clients(&mut self, out: &mut Outputs) {
        for client in std::mem::take(&mut self.clients) {
            out.items.push(Output::Close {
                peer: Endpoint::Client(client),
                channel: Channel::Client,
            });
        }
    }
}
