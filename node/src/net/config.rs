//! Network settings of one Supernet membership, with defaults sized for 3 to 50 nodes.

use std::time::Duration;

use libp2p::Multiaddr;

/// How a node's swarm for one Supernet listens, discovers and bounds its work.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on; port 0 picks a free port (read it back from
    /// [`super::NetEvent::Listening`]).
    pub listen: Vec<Multiaddr>,
    /// Bootnodes, each ending in `/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Discovered members are dialled until this many are connected.
    pub target_peers: usize,
    /// Incoming connections still in their handshake, at most.
    pub max_pending_incoming: u32,
    /// Connections to one peer, at most.
    pub max_established_per_peer: u32,
    /// Idle connections stay open this long (kad and request-response alone don't keep them).
    pub idle_timeout: Duration,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// A random Kademlia walk runs this often.
    pub discovery_interval: Duration,
    /// Outbound requests fail after this long without a response.
    pub request_timeout: Duration,
    /// A publish with no subscribed peer yet is retried for this long.
    pub publish_retry_window: Duration,
    /// Capacity of the event channel to the application.
    pub event_capacity: usize,
    /// Capacity of the command channel from handles.
    pub command_capacity: usize,
    /// Gossip messages waiting for validation, at most; beyond it messages are ignored.
    pub validation_capacity: usize,
    /// Invalid messages or requests from one member (strikes) before it is blocked, for good.
    /// Keep it below [`super::gossip::INVALID_BEFORE_GRAYLIST`]: a flooding peer must reach
    /// it before gossip scoring stops delivering its messages.
    pub max_strikes: u32,
    /// One strike is forgiven per this long without a new one, so a member with a rare fault
    /// (one per interval or rarer) is never blocked. Keep it longer than gossip scoring's
    /// memory of invalid messages, so that strikes still come before the graylist.
    pub strike_decay: Duration,
    /// Availability announcements one signer may make per window; more are ignored, and more
    /// than three times as many, sent by the signer itself, are rejected as a flood. Signers
    /// are counted in a bounded table that never refuses a new one (see [`super::rate`]).
    pub announcements: (u32, Duration),
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0"
                    .parse()
                    .expect("a valid literal address"),
            ],
            bootnodes: Vec::new(),
            target_peers: 24,
            max_pending_incoming: 32,
            max_established_per_peer: 2,
            idle_timeout: Duration::from_secs(60),
            heartbeat: Duration::from_millis(500),
            discovery_interval: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            publish_retry_window: Duration::from_secs(10),
            event_capacity: 1024,
            command_capacity: 256,
            validation_capacity: 1024,
            max_strikes: 8,
            strike_decay: Duration::from_secs(60),
            announcements: (10, Duration::from_secs(10)),
        }
    }
}

impl NetConfig {
    /// Defaults for tests and local testnets: loopback, port 0, faster discovery.
    pub fn local() -> Self {
        Self {
            listen: vec![
                "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .expect("a valid literal address"),
            ],
            heartbeat: Duration::from_millis(200),
            discovery_interval: Duration::from_secs(2),
            ..Self::default()
        }
    }
}
