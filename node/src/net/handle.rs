//! `SupernetHandle`: the cloneable way the application talks to one Supernet's swarm.

use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use lagrange_protocol::SupernetId;
use lagrange_protocol::messages::{GossipMessage, ParamRequest, ParamResponse, Request, Response};

use super::event::{Command, RequestToken};
use super::names::TopicKind;
use super::stats::NetStats;
use super::{PublishError, RequestError};

/// A handle to one Supernet's swarm task. Cheap to clone; the task stops when the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct SupernetHandle {
    pub(crate) supernet: SupernetId,
    pub(crate) local_peer: PeerId,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) stats: Arc<NetStats>,
}

impl SupernetHandle {
    /// The Supernet.
    pub fn supernet(&self) -> &SupernetId {
        &self.supernet
    }

    /// This node's peer id.
    pub fn local_peer(&self) -> PeerId {
        self.local_peer
    }

    /// The swarm's counters.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// A shared handle on the swarm's counters, for collectors that outlive this handle.
    pub fn shared_stats(&self) -> Arc<NetStats> {
        self.stats.clone()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Publishes a signed message on its topic. If no peer has subscribed yet, the publish is
    /// retried for the configured window before it fails with [`PublishError::NoPeers`].
    pub async fn publish(&self, message: GossipMessage) -> Result<(), PublishError> {
        self.ask(|reply| Command::Publish { message, reply })
            .await
            .unwrap_or(Err(PublishError::Stopped))
    }

    /// Publishes raw bytes on a topic, bypassing the codec. For tests and diagnostic tools
    /// that need to send what an honest node never would.
    #[doc(hidden)]
    pub async fn publish_raw(&self, topic: TopicKind, data: Vec<u8>) -> Result<(), PublishError> {
        self.ask(|reply| Command::PublishRaw { topic, data, reply })
            .await
            .unwrap_or(Err(PublishError::Stopped))
    }

    /// Sends a request to `peer` and waits for its response.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, RequestError> {
        self.ask(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await
        .unwrap_or(Err(RequestError::Stopped))
    }

    /// Answers an inbound request.
    pub async fn respond(&self, token: RequestToken, response: Response) {
        // If the swarm task has stopped, the requester gets a failure on its side.
        let _ = self
            .commands
            .send(Command::Respond { token, response })
            .await;
    }

    /// Asks `peer` for a parameter chunk, on the parameter protocol.
    pub async fn request_params(
        &self,
        peer: PeerId,
        request: ParamRequest,
    ) -> Result<ParamResponse, RequestError> {
        self.ask(|reply| Command::RequestParams {
            peer,
            request,
            reply,
        })
        .await
        .unwrap_or(Err(RequestError::Stopped))
    }

    /// Answers an inbound parameter request.
    pub async fn respond_params(&self, token: RequestToken, response: ParamResponse) {
        let _ = self
            .commands
            .send(Command::RespondParams { token, response })
            .await;
    }

    /// Dials an address.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), RequestError> {
        self.ask(|reply| Command::Dial { address, reply })
            .await
            .unwrap_or(Err(RequestError::Stopped))
    }

    /// Peers with at least one open connection.
    pub async fn connected_peers(&self) -> Vec<PeerId> {
        self.ask(|reply| Command::ConnectedPeers { reply })
            .await
            .unwrap_or_default()
    }

    /// Peers in the Supernet's Kademlia routing table.
    pub async fn routing_peers(&self) -> Vec<PeerId> {
        self.ask(|reply| Command::RoutingPeers { reply })
            .await
            .unwrap_or_default()
    }

    /// Gossipsub's score of `peer`, if it is known.
    pub async fn peer_score(&self, peer: PeerId) -> Option<f64> {
        self.ask(|reply| Command::PeerScore { peer, reply })
            .await
            .flatten()
    }

    /// Addresses the swarm listens on.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.ask(|reply| Command::ListenAddrs { reply })
            .await
            .unwrap_or_default()
    }
}
