//! What the network tells the application, and what the application asks of it.

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use lagrange_protocol::SupernetId;
use lagrange_protocol::messages::{GossipMessage, ParamRequest, ParamResponse, Request, Response};

use super::names::TopicKind;
use super::{PublishError, RequestError};

/// Identifies an inbound request until the application answers it with
/// [`super::SupernetHandle::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub(crate) u64);

impl RequestToken {
    /// A token for driving a role's state machine without a network, in tests and
    /// benchmarks. A swarm never answers a token it did not issue.
    #[doc(hidden)]
    pub fn for_tests(n: u64) -> Self {
        Self(n)
    }
}

/// An event from one Supernet's swarm.
#[derive(Debug)]
pub enum NetEvent {
    /// The swarm listens on a new address.
    Listening {
        /// The Supernet.
        supernet: SupernetId,
        /// The address, with the real port when port 0 was asked for.
        address: Multiaddr,
    },
    /// First connection to a peer is up.
    PeerConnected {
        /// The Supernet.
        supernet: SupernetId,
        /// The peer.
        peer: PeerId,
    },
    /// Last connection to a peer closed.
    PeerDisconnected {
        /// The Supernet.
        supernet: SupernetId,
        /// The peer.
        peer: PeerId,
    },
    /// Kademlia added a new member to the routing table.
    Discovered {
        /// The Supernet.
        supernet: SupernetId,
        /// The member.
        peer: PeerId,
    },
    /// A peer subscribed to one of the Supernet's topics.
    Subscribed {
        /// The Supernet.
        supernet: SupernetId,
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicKind,
    },
    /// A gossip message that passed validation: decoded, from a member, correctly signed by
    /// the peer that authored it.
    Gossip {
        /// The Supernet.
        supernet: SupernetId,
        /// The author.
        source: PeerId,
        /// The message.
        message: GossipMessage,
    },
    /// A request from a member. Answer it with [`super::SupernetHandle::respond`].
    Request {
        /// The Supernet.
        supernet: SupernetId,
        /// The requesting peer.
        peer: PeerId,
        /// The token to answer with.
        token: RequestToken,
        /// The request.
        request: Request,
    },
    /// A parameter chunk request from a member. Answer it with
    /// [`super::SupernetHandle::respond_params`].
    ParamRequest {
        /// The Supernet.
        supernet: SupernetId,
        /// The requesting peer.
        peer: PeerId,
        /// The token to answer with.
        token: RequestToken,
        /// The request.
        request: ParamRequest,
    },
    /// A peer sent something invalid and was penalized.
    PeerPenalized {
        /// The Supernet.
        supernet: SupernetId,
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: String,
        /// Its strikes so far.
        strikes: u32,
    },
    /// A member reached the strike limit and is blocked.
    PeerBlocked {
        /// The Supernet.
        supernet: SupernetId,
        /// The peer.
        peer: PeerId,
    },
    /// An incoming connection was refused (not on the allowlist, blocked or over a limit).
    ConnectionDenied {
        /// The Supernet.
        supernet: SupernetId,
        /// The peer, when the handshake got far enough to know it.
        peer: Option<PeerId>,
        /// Why.
        reason: String,
    },
}

impl NetEvent {
    /// The Supernet the event belongs to.
    pub fn supernet(&self) -> &SupernetId {
        match self {
            NetEvent::Listening { supernet, .. }
            | NetEvent::PeerConnected { supernet, .. }
            | NetEvent::PeerDisconnected { supernet, .. }
            | NetEvent::Discovered { supernet, .. }
            | NetEvent::Subscribed { supernet, .. }
            | NetEvent::Gossip { supernet, .. }
            | NetEvent::Request { supernet, .. }
            | NetEvent::ParamRequest { supernet, .. }
            | NetEvent::PeerPenalized { supernet, .. }
            | NetEvent::PeerBlocked { supernet, .. }
            | NetEvent::ConnectionDenied { supernet, .. } => supernet,
        }
    }
}

/// A command to a swarm task. Replies travel on oneshot channels.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        message: GossipMessage,
        reply: oneshot::Sender<Result<(), PublishError>>,
    },
    PublishRaw {
        topic: TopicKind,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), PublishError>>,
    },
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, RequestError>>,
    },
    Respond {
        token: RequestToken,
        response: Response,
    },
    RequestParams {
        peer: PeerId,
        request: ParamRequest,
        reply: oneshot::Sender<Result<ParamResponse, RequestError>>,
    },
    RespondParams {
        token: RequestToken,
        response: ParamResponse,
    },
    Dial {
        address: Multiaddr,
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    RoutingPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    /// A validation verdict from the validator task.
    Verdict {
        message_id: MessageId,
        propagation_source: PeerId,
        acceptance: MessageAcceptance,
        reason: Option<String>,
    },
}
