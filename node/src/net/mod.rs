//! The libp2p mesh: discovery, gossip, requests and membership, per Supernet.
//!
//! A node runs one swarm per Supernet it joins, all under the node's one identity key. Each
//! swarm has its own allowlist, connection limits, Kademlia DHT (`/lagrange/<s>/kad/1.0.0`),
//! gossip topics (`/lagrange/<s>/<kind>/1`) and request protocol (`/lagrange/<s>/rpc/1`).
//! Separate swarms make isolation structural: a permissioned Supernet's swarm never holds a
//! connection from a stranger even when the node is also in an open Supernet, and joining or
//! leaving at run time is starting or stopping a swarm. The cost is one listening port per
//! Supernet.
//!
//! Layout, in the style of a handle plus a manager:
//! - [`Network`] joins and leaves Supernets and merges their events into one bounded
//!   channel;
//! - [`SupernetHandle`] sends commands to one swarm task (oneshot replies);
//! - `task` owns the `Swarm` and never awaits the application;
//! - `validate` checks gossip off the swarm task and sends verdicts back as commands;
//! - one folder per request-response protocol, each its messages and codec over the shared
//!   size-limited frames (`frames`): `rpc` for the roles (bids, jobs, proofs, catch-up,
//!   transcripts) and `params` for parameter files (fetching and serving them).
//!
//! This layer carries messages and enforces membership. It holds no business logic.

mod behaviour;
pub mod config;
mod event;
pub mod frames;
pub mod gossip;
mod handle;
pub mod names;
pub mod params;
pub mod rate;
pub mod rpc;
pub mod stats;
pub mod strikes;
mod task;
pub mod validate;

use std::collections::HashMap;
use std::sync::Arc;

use libp2p::{SwarmBuilder, identity, noise, tcp, yamux};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::info;

use lagrange_protocol::SupernetId;
use lagrange_protocol::config::SupernetConfig;

pub use config::NetConfig;
pub use event::{NetEvent, RequestToken};
pub use handle::SupernetHandle;
pub use names::TopicKind;
pub use stats::NetStats;
pub use task::MAX_INBOUND_PER_PEER;
pub use task::peer_of;

/// Failures to start a swarm.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The transport could not be built.
    #[error("transport: {0}")]
    Transport(String),
    /// Gossipsub rejected its configuration.
    #[error("gossipsub: {0}")]
    Gossip(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The node is already in this Supernet.
    #[error("already joined supernet {0}")]
    AlreadyJoined(SupernetId),
}

/// Why a publish failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// No peer subscribed within the retry window.
    #[error("no peer subscribed to the topic within the retry window")]
    NoPeers,
    /// Too many publishes are already waiting for subscribers.
    #[error("too many publishes waiting for subscribers")]
    QueueFull,
    /// The message does not fit a gossip frame.
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// Gossipsub refused it.
    #[error("gossipsub: {0}")]
    Gossip(String),
    /// The swarm task has stopped.
    #[error("network stopped")]
    Stopped,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Dialling failed.
    #[error("dial failed: {0}")]
    Dial(String),
    /// The request failed in transit (unreachable, timeout, refused protocol, bad response).
    #[error("request failed: {0}")]
    Failed(String),
    /// The swarm task has stopped.
    #[error("network stopped")]
    Stopped,
}

struct Member {
    handle: SupernetHandle,
    task: JoinHandle<()>,
    validator: JoinHandle<()>,
}

/// The node's memberships: one swarm per Supernet, events merged into one channel.
pub struct Network {
    key: identity::Keypair,
    events: mpsc::Sender<NetEvent>,
    members: HashMap<SupernetId, Member>,
}

impl Network {
    /// A network with no Supernets yet, and the receiver of all its events.
    pub fn new(key: identity::Keypair, event_capacity: usize) -> (Self, mpsc::Receiver<NetEvent>) {
        let (events, rx) = mpsc::channel(event_capacity);
        (
            Self {
                key,
                events,
                members: HashMap::new(),
            },
            rx,
        )
    }

    /// This node's peer id.
    pub fn local_peer(&self) -> libp2p::PeerId {
        self.key.public().to_peer_id()
    }

    /// Joins a Supernet: builds its swarm, starts listening and dialling bootnodes.
    pub fn join(
        &mut self,
        supernet: SupernetConfig,
        cfg: NetConfig,
    ) -> Result<SupernetHandle, NetError> {
        if self.members.contains_key(&supernet.id) {
            return Err(NetError::AlreadyJoined(supernet.id));
        }
        let supernet = Arc::new(supernet);
        let idle = cfg.idle_timeout;
        let builder = SwarmBuilder::with_existing_identity(self.key.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetError::Transport(e.to_string()))?;
        #[cfg(feature = "quic")]
        let builder = builder.with_quic();
        let mut swarm = builder
            .with_behaviour(|key| {
                behaviour::Behaviour::new(key, &supernet, &cfg)
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            })
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build();
        for address in &cfg.listen {
            swarm
                .listen_on(address.clone())
                .map_err(|e| NetError::Listen {
                    address: address.to_string(),
                    reason: e.to_string(),
                })?;
        }

        let stats = Arc::new(stats::NetStats::default());
        let (command_tx, command_rx) = mpsc::channel(cfg.command_capacity);
        let (validation_tx, validation_rx) = mpsc::channel(cfg.validation_capacity);
        let validator = tokio::spawn(validate::run(
            supernet.clone(),
            cfg.announcements,
            validation_rx,
            command_tx.clone(),
            self.events.clone(),
            stats.clone(),
        ));
        let handle = SupernetHandle {
            supernet: supernet.id.clone(),
            local_peer: self.local_peer(),
            commands: command_tx,
            stats: stats.clone(),
        };
        let task = task::SwarmTask::new(
            swarm,
            supernet.clone(),
            cfg,
            command_rx,
            self.events.clone(),
            validation_tx,
            stats,
        );
        let task = tokio::spawn(task.run());
        info!(supernet = %supernet.id, peer = %self.local_peer(), "joined supernet");
        self.members.insert(
            supernet.id.clone(),
            Member {
                handle: handle.clone(),
                task,
                validator,
            },
        );
        Ok(handle)
    }

    /// Leaves a Supernet: stops its swarm and closes its connections. Returns false if the
    /// node was not in it.
    pub fn leave(&mut self, supernet: &SupernetId) -> bool {
        match self.members.remove(supernet) {
            Some(member) => {
                member.task.abort();
                member.validator.abort();
                info!(%supernet, "left supernet");
                true
            }
            None => false,
        }
    }

    /// The handle of a joined Supernet.
    pub fn handle(&self, supernet: &SupernetId) -> Option<&SupernetHandle> {
        self.members.get(supernet).map(|m| &m.handle)
    }

    /// The Supernets this node is in.
    pub fn supernets(&self) -> Vec<SupernetId> {
        self.members.keys().cloned().collect()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for member in self.members.values() {
            member.task.abort();
            member.validator.abort();
        }
    }
}
