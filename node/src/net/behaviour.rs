//! The composed libp2p behaviour of one Supernet membership.
//!
//! Field order matters: connection-managing behaviours (allowlist, blocklist, limits) come
//! first, so they veto a connection before any protocol behaviour sees it.

use std::sync::Arc;

use libp2p::identity::Keypair;
use libp2p::kad::store::MemoryStore;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{allow_block_list, connection_limits, gossipsub, identify, kad, ping};

use lagrange_protocol::config::SupernetConfig;

use super::config::NetConfig;
use super::names::{self, TopicKind};
use super::params::ParamCodec;
use super::rpc::RpcCodec;
use super::{NetError, gossip};

/// Everything one Supernet's swarm runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// The Supernet's allowlist; disabled (not empty) for an open Supernet, because an empty
    /// allowlist denies everybody.
    pub allow: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    /// Members blocked for misbehaving.
    pub block: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Bounds on pending and established connections.
    pub limits: connection_limits::Behaviour,
    /// Learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// The Supernet's private DHT.
    pub kad: kad::Behaviour<MemoryStore>,
    /// Gossip of batches, bids, results and availability.
    pub gossipsub: gossipsub::Behaviour,
    /// The roles' requests: bids, job inputs, proofs, catch-up, transcripts.
    pub rpc: request_response::Behaviour<RpcCodec>,
    /// Parameter file chunks.
    pub params: request_response::Behaviour<ParamCodec>,
    /// Liveness.
    pub ping: ping::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `supernet` with the node's identity `key`.
    pub fn new(
        key: &Keypair,
        supernet: &Arc<SupernetConfig>,
        cfg: &NetConfig,
    ) -> Result<Self, NetError> {
        let local = key.public().to_peer_id();
        let id = &supernet.id;

        let allow = supernet.allowlist.as_ref().map(|list| {
            let mut allow =
                allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
            for peer in list {
                allow.allow_peer(*peer);
            }
            // A node always admits itself (dialling its own address is refused elsewhere).
            allow.allow_peer(local);
            allow
        });

        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_pending_incoming(Some(cfg.max_pending_incoming))
                .with_max_established_per_peer(Some(cfg.max_established_per_peer)),
        );

        let identify = identify::Behaviour::new(
            identify::Config::new(names::identify_version(id), key.public())
                .with_agent_version(format!("lagrange-node/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        );

        let mut kad_cfg = kad::Config::new(names::kad_protocol(id));
        kad_cfg.set_periodic_bootstrap_interval(Some(cfg.discovery_interval * 6));
        let mut kad = kad::Behaviour::with_config(local, MemoryStore::new(local), kad_cfg);
        // On loopback and behind NAT a node would otherwise stay a DHT client forever, and
        // nobody would ever learn about it.
        kad.set_mode(Some(kad::Mode::Server));

        let gossip_cfg = gossip::config(cfg.heartbeat).map_err(NetError::Gossip)?;
        let mut gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_cfg,
        )
        .map_err(|e| NetError::Gossip(e.to_string()))?;
        let (score, thresholds) = gossip::score_params();
        gossipsub
            .with_peer_score(score, thresholds)
            .map_err(NetError::Gossip)?;
        for kind in TopicKind::ALL {
            let topic = names::topic(id, kind);
            gossipsub
                .subscribe(&topic)
                .map_err(|e| NetError::Gossip(e.to_string()))?;
            gossipsub
                .set_topic_params(topic, gossip::topic_score_params())
                .map_err(|e| NetError::Gossip(e.to_string()))?;
        }

        let params = request_response::Behaviour::with_codec(
            ParamCodec::default(),
            [(names::params_protocol(id), ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout)
                .with_max_concurrent_streams(16),
        );
        let rpc = request_response::Behaviour::with_codec(
            RpcCodec::default(),
            [(names::rpc_protocol(id), ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout)
                .with_max_concurrent_streams(64),
        );

        Ok(Self {
            allow: Toggle::from(allow),
            block: allow_block_list::Behaviour::default(),
            limits,
            identify,
            kad,
            gossipsub,
            rpc,
            params,
            ping: ping::Behaviour::default(),
        })
    }
}
