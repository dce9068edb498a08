//! The swarm task: the one place that owns a Supernet's `Swarm`.
//!
//! It reacts to swarm events and commands and never awaits the application: events go out
//! with `try_send` (drops are counted), gossip goes to the validator's bounded queue, and
//! inbound requests wait in a table until the application answers with a command.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, TopicHash};
use libp2p::kad;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{DialError, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use lagrange_protocol::SupernetId;
use lagrange_protocol::codec::{self, WireMessage};
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::messages::{ParamRequest, ParamResponse, Request, Response};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::config::NetConfig;
use super::event::{Command, NetEvent, RequestToken};
use super::frames::FrameCodec;
use super::names::{self, TopicKind};
use super::params::ParamCodec;
use super::rpc::RpcCodec;
use super::stats::NetStats;
use super::strikes::{Strikes, Struck};
use super::validate::Pending;
use super::{PublishError, RequestError};

/// A publish that found no subscribed peer yet, retried until its deadline.
struct QueuedPublish {
    topic: TopicKind,
    data: Vec<u8>,
    deadline: Instant,
    reply: oneshot::Sender<Result<(), PublishError>>,
}

/// Most publishes waiting for subscribers.
const MAX_QUEUED_PUBLISHES: usize = 256;

/// Most inbound requests one peer may have waiting for the application's answer; more are
/// refused at once.
pub const MAX_INBOUND_PER_PEER: usize = 32;

/// Most inbound requests waiting for the application's answer, from all peers.
const MAX_INBOUND: usize = 1024;

/// Where an inbound request's answer goes: the protocol it came in on.
enum Channel {
    Rpc(ResponseChannel<Response>),
    Params(ResponseChannel<ParamResponse>),
}

/// An inbound request waiting for the application's answer.
struct Inbound {
    channel: Channel,
    peer: PeerId,
    at: tokio::time::Instant,
}

pub(crate) struct SwarmTask {
    swarm: Swarm<Behaviour>,
    supernet: Arc<SupernetConfig>,
    cfg: NetConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    validation: mpsc::Sender<Pending>,
    stats: Arc<NetStats>,
    outbound: Outbound<Response>,
    outbound_params: Outbound<ParamResponse>,
    /// Requests the application has not answered yet. One it never answers is dropped once
    /// the requester's timeout has passed (the requester gave up by then).
    inbound: HashMap<RequestToken, Inbound>,
    inbound_per_peer: HashMap<PeerId, usize>,
    next_token: u64,
    queued: VecDeque<QueuedPublish>,
    /// Strikes per peer: forgiven with time, bounded; the block list holds blocked peers.
    strikes: Strikes,
    connected: HashSet<PeerId>,
    topics: HashMap<TopicHash, TopicKind>,
}

impl SwarmTask {
    pub fn new(
        swarm: Swarm<Behaviour>,
        supernet: Arc<SupernetConfig>,
        cfg: NetConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        validation: mpsc::Sender<Pending>,
        stats: Arc<NetStats>,
    ) -> Self {
        let topics = TopicKind::ALL
            .into_iter()
            .map(|k| (names::topic(&supernet.id, k).hash(), k))
            .collect();
        let strikes = Strikes::new(cfg.max_strikes, cfg.strike_decay);
        Self {
            swarm,
            supernet,
            cfg,
            commands,
            events,
            validation,
            stats,
            outbound: HashMap::new(),
            outbound_params: HashMap::new(),
            inbound: HashMap::new(),
            inbound_per_peer: HashMap::new(),
            next_token: 0,
            queued: VecDeque::new(),
            strikes,
            connected: HashSet::new(),
            topics,
        }
    }

    /// Removes a waiting inbound request from the tables.
    fn take_inbound(&mut self, token: &RequestToken) -> Option<Inbound> {
        let inbound = self.inbound.remove(token)?;
        if let Some(n) = self.inbound_per_peer.get_mut(&inbound.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.inbound_per_peer.remove(&inbound.peer);
            }
        }
        self.stats.set_inbound_pending(self.inbound.len());
        Some(inbound)
    }

    /// Drops inbound requests the application left unanswered past the requester's timeout.
    fn expire_inbound(&mut self) {
        let timeout = self.cfg.request_timeout;
        let stale: Vec<RequestToken> = self
            .inbound
            .iter()
            .filter(|(_, i)| i.at.elapsed() > timeout)
            .map(|(t, _)| *t)
            .collect();
        for token in stale {
            self.take_inbound(&token);
        }
    }

    fn emit(&self, event: NetEvent) {
        if self.events.try_send(event).is_err() {
            self.stats.events_dropped.inc();
        }
    }

    /// Runs until every handle is dropped.
    pub async fn run(mut self) {
        for bootnode in self.cfg.bootnodes.clone() {
            if let Some(Protocol::P2p(peer)) = bootnode.iter().last() {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, bootnode.clone());
            }
            if let Err(e) = self.swarm.dial(bootnode.clone()) {
                warn!(supernet = %self.supernet.id, %bootnode, error = %e, "cannot dial bootnode");
            }
        }
        let mut discovery = tokio::time::interval(self.cfg.discovery_interval);
        discovery.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut retry = tokio::time::interval(Duration::from_millis(100));
        retry.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut expiry = tokio::time::interval(Duration::from_secs(1));
        expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                _ = discovery.tick() => self.discover(),
                _ = retry.tick(), if !self.queued.is_empty() => self.retry_publishes(),
                _ = expiry.tick(), if !self.inbound.is_empty() => self.expire_inbound(),
            }
        }
        debug!(supernet = %self.supernet.id, "swarm task stopped");
    }

    fn discover(&mut self) {
        // A bootnode we are not connected to (a restarted gateway, a network blip): dial it
        // again. The DHT may still hold other peers, but a bootnode is usually the gateway,
        // and a prover cut off from its gateway cannot bid.
        let local = *self.swarm.local_peer_id();
        for bootnode in self.cfg.bootnodes.clone() {
            let Some(peer) = peer_of(&bootnode) else {
                if self.connected.is_empty() {
                    let _ = self.swarm.dial(bootnode);
                }
                continue;
            };
            if peer != local && !self.connected.contains(&peer) {
                let opts = DialOpts::peer_id(peer)
                    .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                    .addresses(vec![bootnode])
                    .build();
                let _ = self.swarm.dial(opts);
            }
        }
        if self.connected.len() < self.cfg.target_peers {
            self.swarm
                .behaviour_mut()
                .kad
                .get_closest_peers(PeerId::random());
        }
    }

    fn publish_now(
        &mut self,
        topic: TopicKind,
        data: Vec<u8>,
    ) -> Result<(), gossipsub::PublishError> {
        let topic = names::topic(&self.supernet.id, topic);
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, data)
            .map(|_| ())
    }

    fn publish(
        &mut self,
        topic: TopicKind,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), PublishError>>,
    ) {
        match self.publish_now(topic, data.clone()) {
            Ok(()) => {
                let _ = reply.send(Ok(()));
            }
            // Normal for a moment after connecting: peers have not told us their
            // subscriptions yet. Retry until the window closes.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                if self.queued.len() >= MAX_QUEUED_PUBLISHES {
                    let _ = reply.send(Err(PublishError::QueueFull));
                    return;
                }
                self.queued.push_back(QueuedPublish {
                    topic,
                    data,
                    deadline: Instant::now() + self.cfg.publish_retry_window,
                    reply,
                });
            }
            // The same payload is already out: with content ids that means it was published.
            Err(gossipsub::PublishError::Duplicate) => {
                let _ = reply.send(Ok(()));
            }
            Err(e) => {
                let _ = reply.send(Err(PublishError::Gossip(e.to_string())));
            }
        }
    }

    fn retry_publishes(&mut self) {
        let now = Instant::now();
        for _ in 0..self.queued.len() {
            let Some(q) = self.queued.pop_front() else {
                break;
            };
            match self.publish_now(q.topic, q.data.clone()) {
                Ok(()) | Err(gossipsub::PublishError::Duplicate) => {
                    let _ = q.reply.send(Ok(()));
                }
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) if now < q.deadline => {
                    self.queued.push_back(q);
                }
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                    let _ = q.reply.send(Err(PublishError::NoPeers));
                }
                Err(e) => {
                    let _ = q.reply.send(Err(PublishError::Gossip(e.to_string())));
                }
            }
        }
    }

    /// Counts a strike against `peer` (see [`Strikes`] for how strikes decay and are
    /// bounded) and blocks it, for good, at the strike limit. A blocked peer's late messages
    /// add nothing.
    fn strike(&mut self, peer: PeerId, reason: String) {
        if self.swarm.behaviour().block.blocked_peers().contains(&peer) {
            return;
        }
        let Struck { strikes, block } = self.strikes.strike(peer, Instant::now());
        warn!(supernet = %self.supernet.id, %peer, %reason, strikes, "peer penalized");
        self.emit(NetEvent::PeerPenalized {
            supernet: self.supernet.id.clone(),
            peer,
            reason,
            strikes,
        });
        if block {
            self.swarm.behaviour_mut().block.block_peer(peer);
            self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
            self.emit(NetEvent::PeerBlocked {
                supernet: self.supernet.id.clone(),
                peer,
            });
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { message, reply } => {
                let topic = TopicKind::of(&message);
                match codec::encode(&message) {
                    Ok(data) => self.publish(topic, data, reply),
                    Err(e) => {
                        let _ = reply.send(Err(PublishError::Encode(e.to_string())));
                    }
                }
            }
            Command::PublishRaw { topic, data, reply } => self.publish(topic, data, reply),
            Command::Request {
                peer,
                request,
                reply,
            } => self.send_request::<Rpc>(peer, request, reply),
            Command::Respond { token, response } => self.respond::<Rpc>(token, response),
            Command::RequestParams {
                peer,
                request,
                reply,
            } => self.send_request::<Params>(peer, request, reply),
            Command::RespondParams { token, response } => self.respond::<Params>(token, response),
            Command::Dial { address, reply } => {
                let result = self
                    .swarm
                    .dial(address)
                    .map_err(|e| RequestError::Dial(e.to_string()));
                let _ = reply.send(result);
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.connected.iter().copied().collect());
            }
            Command::RoutingPeers { reply } => {
                let mut peers = Vec::new();
                for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
                    for entry in bucket.iter() {
                        peers.push(*entry.node.key.preimage());
                    }
                }
                let _ = reply.send(peers);
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Verdict {
                message_id,
                propagation_source,
                acceptance,
                reason,
            } => {
                let rejected = matches!(acceptance, MessageAcceptance::Reject);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                if rejected {
                    self.stats.gossip_rejected.inc();
                    self.strike(
                        propagation_source,
                        reason.unwrap_or_else(|| "invalid gossip".into()),
                    );
                }
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        let supernet = self.supernet.id.clone();
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let local = *self.swarm.local_peer_id();
                info!(%supernet, %address, peer = %local, "listening");
                self.emit(NetEvent::Listening { supernet, address });
            }
            // Duplicate connections are normal: count peers, not connection events.
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 && self.connected.insert(peer_id) => {
                debug!(%supernet, peer = %peer_id, "connected");
                self.stats.peer_connected(true);
                self.emit(NetEvent::PeerConnected {
                    supernet,
                    peer: peer_id,
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.connected.remove(&peer_id) => {
                self.stats.peer_connected(false);
                self.emit(NetEvent::PeerDisconnected {
                    supernet,
                    peer: peer_id,
                });
            }
            SwarmEvent::IncomingConnectionError {
                peer_id,
                error: ListenError::Denied { cause },
                ..
            } => {
                self.stats.connections_denied.inc();
                self.emit(NetEvent::ConnectionDenied {
                    supernet,
                    peer: peer_id,
                    reason: cause.to_string(),
                });
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                error: DialError::Denied { cause },
                ..
            } => {
                self.emit(NetEvent::ConnectionDenied {
                    supernet,
                    peer: peer_id,
                    reason: cause.to_string(),
                });
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        let supernet = self.supernet.id.clone();
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Only peers that speak this Supernet's DHT go into its routing table.
                let kad = names::kad_protocol(&supernet);
                if info.protocols.contains(&kad) {
                    for address in info.listen_addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, address);
                    }
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                is_new_peer,
                addresses,
                ..
            }) => {
                if is_new_peer {
                    self.emit(NetEvent::Discovered { supernet, peer });
                }
                let me = *self.swarm.local_peer_id();
                if peer != me
                    && !self.connected.contains(&peer)
                    && self.connected.len() < self.cfg.target_peers
                {
                    let opts = DialOpts::peer_id(peer)
                        .addresses(addresses.into_vec())
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let pending = Pending {
                    message_id: message_id.clone(),
                    propagation_source,
                    source: message.source,
                    topic: self.topics.get(&message.topic).copied(),
                    data: message.data,
                };
                if self.validation.try_send(pending).is_err() {
                    // Not the sender's fault: ignore, don't penalize.
                    self.stats.gossip_ignored_busy.inc();
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic, .. }) => {
                if let Some(kind) = self.topics.get(&topic).copied() {
                    self.emit(NetEvent::Subscribed {
                        supernet,
                        peer: peer_id,
                        topic: kind,
                    });
                    if !self.queued.is_empty() {
                        self.retry_publishes();
                    }
                }
            }
            BehaviourEvent::Rpc(event) => self.on_request_event::<Rpc>(event),
            BehaviourEvent::Params(event) => self.on_request_event::<Params>(event),
            _ => {}
        }
    }

    /// Admits an inbound request from `peer`: from a member, within the bounds on waiting
    /// requests, and with room in the application's queue (`event` builds what it gets).
    /// Returns the token the application answers with, or why the request is refused.
    fn admit(
        &mut self,
        peer: PeerId,
        event: impl FnOnce(SupernetId, RequestToken) -> NetEvent,
    ) -> Result<RequestToken, String> {
        if !self.supernet.is_allowed(&peer) {
            self.stats.requests_refused.inc();
            self.strike(peer, "request from a non-member".into());
            return Err("not a member of this supernet".into());
        }
        let waiting = self.inbound_per_peer.get(&peer).copied().unwrap_or(0);
        if waiting >= MAX_INBOUND_PER_PEER || self.inbound.len() >= MAX_INBOUND {
            self.stats.requests_refused.inc();
            return Err("too many requests in flight".into());
        }
        let token = RequestToken(self.next_token);
        if self
            .events
            .try_send(event(self.supernet.id.clone(), token))
            .is_err()
        {
            self.stats.requests_refused.inc();
            return Err("busy".into());
        }
        self.next_token += 1;
        Ok(token)
    }

    /// Keeps an admitted request's channel until the application answers.
    fn hold(&mut self, token: RequestToken, peer: PeerId, channel: Channel) {
        self.inbound.insert(
            token,
            Inbound {
                channel,
                peer,
                at: tokio::time::Instant::now(),
            },
        );
        *self.inbound_per_peer.entry(peer).or_default() += 1;
        self.stats.set_inbound_pending(self.inbound.len());
    }

    /// An event of one of the request-response protocols.
    fn on_request_event<P: RequestProtocol>(
        &mut self,
        event: request_response::Event<P::Req, P::Resp>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let admitted = self.admit(peer, |supernet, token| {
                    P::event(supernet, peer, token, request)
                });
                match admitted {
                    Ok(token) => self.hold(token, peer, P::channel(channel)),
                    Err(reason) => {
                        let behaviour = P::behaviour(self.swarm.behaviour_mut());
                        let _ = behaviour.send_response(channel, P::refused(reason));
                    }
                }
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = P::outbound(self).remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = P::outbound(self).remove(&request_id) {
                    let _ = reply.send(Err(RequestError::Failed(error.to_string())));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                // A peer whose request didn't decode sent garbage: that is on them.
                if let request_response::InboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.strike(peer, format!("malformed request: {e}"));
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Sends a request on protocol `P`; the reply comes back on `reply`.
    fn send_request<P: RequestProtocol>(
        &mut self,
        peer: PeerId,
        request: P::Req,
        reply: oneshot::Sender<Result<P::Resp, RequestError>>,
    ) {
        let id = P::behaviour(self.swarm.behaviour_mut()).send_request(&peer, request);
        P::outbound(self).insert(id, reply);
    }

    /// Answers an inbound request of protocol `P` the application took.
    fn respond<P: RequestProtocol>(&mut self, token: RequestToken, response: P::Resp) {
        if let Some(channel) = self.take_inbound(&token).and_then(|i| P::take(i.channel)) {
            // Fails only if the requester went away; nothing to do then.
            let _ = P::behaviour(self.swarm.behaviour_mut()).send_response(channel, response);
        }
    }
}

/// Replies awaited for requests sent on one protocol.
type Outbound<Resp> = HashMap<OutboundRequestId, oneshot::Sender<Result<Resp, RequestError>>>;

/// What differs between the swarm's request-response protocols.
trait RequestProtocol {
    type Req: WireMessage + Send + Sync + 'static;
    type Resp: WireMessage + Send + Sync + 'static;
    fn behaviour(
        b: &mut Behaviour,
    ) -> &mut request_response::Behaviour<FrameCodec<Self::Req, Self::Resp>>;
    fn outbound(task: &mut SwarmTask) -> &mut Outbound<Self::Resp>;
    fn event(
        supernet: SupernetId,
        peer: PeerId,
        token: RequestToken,
        request: Self::Req,
    ) -> NetEvent;
    fn channel(channel: ResponseChannel<Self::Resp>) -> Channel;
    fn take(channel: Channel) -> Option<ResponseChannel<Self::Resp>>;
    fn refused(reason: String) -> Self::Resp;
}

/// The roles' protocol.
struct Rpc;

impl RequestProtocol for Rpc {
    type Req = Request;
    type Resp = Response;
    fn behaviour(b: &mut Behaviour) -> &mut request_response::Behaviour<RpcCodec> {
        &mut b.rpc
    }
    fn outbound(task: &mut SwarmTask) -> &mut Outbound<Response> {
        &mut task.outbound
    }
    fn event(
        supernet: SupernetId,
        peer: PeerId,
        token: RequestToken,
        request: Request,
    ) -> NetEvent {
        NetEvent::Request {
            supernet,
            peer,
            token,
            request,
        }
    }
    fn channel(channel: ResponseChannel<Response>) -> Channel {
        Channel::Rpc(channel)
    }
    fn take(channel: Channel) -> Option<ResponseChannel<Response>> {
        match channel {
            Channel::Rpc(c) => Some(c),
            Channel::Params(_) => None,
        }
    }
    fn refused(reason: String) -> Response {
        Response::Refused { reason }
    }
}

/// The parameter protocol.
struct Params;

impl RequestProtocol for Params {
    type Req = ParamRequest;
    type Resp = ParamResponse;
    fn behaviour(b: &mut Behaviour) -> &mut request_response::Behaviour<ParamCodec> {
        &mut b.params
    }
    fn outbound(task: &mut SwarmTask) -> &mut Outbound<ParamResponse> {
        &mut task.outbound_params
    }
    fn event(
        supernet: SupernetId,
        peer: PeerId,
        token: RequestToken,
        request: ParamRequest,
    ) -> NetEvent {
        NetEvent::ParamRequest {
            supernet,
            peer,
            token,
            request,
        }
    }
    fn channel(channel: ResponseChannel<ParamResponse>) -> Channel {
        Channel::Params(channel)
    }
    fn take(channel: Channel) -> Option<ResponseChannel<ParamResponse>> {
        match channel {
            Channel::Params(c) => Some(c),
            Channel::Rpc(_) => None,
        }
    }
    fn refused(reason: String) -> ParamResponse {
        ParamResponse::Refused { reason }
    }
}

/// The `/p2p/<peer>` suffix of an address, if it has one.
pub fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}
