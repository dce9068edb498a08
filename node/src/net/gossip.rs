//! Gossipsub settings: strict signing, manual validation, content-hash message ids, mesh
//! parameters for small networks, and peer scoring that punishes invalid messages.

use std::time::Duration;

use libp2p::gossipsub::{
    self, MessageId, PeerScoreParams, PeerScoreThresholds, TopicScoreParams, ValidationMode,
};

use lagrange_protocol::codec::WireMessage;
use lagrange_protocol::messages::GossipMessage;

/// Gossipsub mesh degree settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshParams {
    /// Target mesh degree (`D`).
    pub n: usize,
    /// Below this, graft (`D_lo`).
    pub low: usize,
    /// Above this, prune (`D_hi`).
    pub high: usize,
    /// Outbound peers kept in the mesh (`D_out`).
    pub outbound_min: usize,
}

impl MeshParams {
    /// Sized for Supernets of 3 to 50 nodes. The gossipsub defaults (6/5/12/2) are never met
    /// in a 3 to 10 node network, which leaves meshes permanently under-filled.
    pub const SMALL_NETWORK: MeshParams = MeshParams {
        n: 3,
        low: 2,
        high: 6,
        outbound_min: 1,
    };

    /// The invariant gossipsub needs but does not check for partial overrides:
    /// `outbound_min ≤ low ≤ n ≤ high` and `outbound_min ≤ n / 2`.
    pub fn is_consistent(&self) -> bool {
        self.outbound_min <= self.low
            && self.low <= self.n
            && self.n <= self.high
            && self.outbound_min <= self.n / 2
            && self.outbound_min >= 1
    }
}

/// Builds the gossipsub configuration.
pub fn config(heartbeat: Duration) -> Result<gossipsub::Config, String> {
    let mesh = MeshParams::SMALL_NETWORK;
    // Keep the validation window (history_length × heartbeat) at about five seconds however
    // short the heartbeat is.
    let history_length =
        (Duration::from_secs(5).as_millis() / heartbeat.as_millis().max(1)).clamp(5, 50) as usize;
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|message: &gossipsub::Message| content_id(&message.data))
        .mesh_n(mesh.n)
        .mesh_n_low(mesh.low)
        .mesh_n_high(mesh.high)
        .mesh_outbound_min(mesh.outbound_min)
        .heartbeat_interval(heartbeat)
        .heartbeat_initial_delay(Duration::from_millis(100))
        .history_length(history_length)
        .history_gossip(history_length.min(3))
        .max_transmit_size(GossipMessage::MAX_SIZE + 1024)
        .build()
        .map_err(|e| e.to_string())
}

/// The message id: the first 20 bytes of the blake3 hash of the payload, so the same payload
/// from two paths is one message.
pub fn content_id(data: &[u8]) -> MessageId {
    MessageId::from(&blake3::hash(data).as_bytes()[..20])
}

/// Peer scoring: an invalid message costs the sender, little else moves the score.
///
/// IP colocation scoring is off because local testnets and NATed operators put many honest
/// peers behind one address; membership is enforced by the allowlist instead.
pub fn score_params() -> (PeerScoreParams, PeerScoreThresholds) {
    let params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    (params, PeerScoreThresholds::default())
}

/// Invalid messages that put a peer below the graylist threshold (−80), after which its RPCs
/// are ignored until the penalty decays. A flooding peer must reach
/// [`super::NetConfig::max_strikes`] first: once graylisted, its messages no longer reach
/// validation, so they can no longer add strikes, and it would stay connected.
pub const INVALID_BEFORE_GRAYLIST: u32 = 9;

/// Per-topic scoring: only invalid deliveries (P₄) count. The penalty is the square of the
/// count: one invalid message puts a peer below zero, four below the gossip threshold (−10),
/// eight below the publish threshold (−50) and [`INVALID_BEFORE_GRAYLIST`] below the
/// graylist threshold (−80).
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_parameters_hold_their_invariant() {
        assert!(MeshParams::SMALL_NETWORK.is_consistent());
        // The invariant catches partial overrides that gossipsub would accept silently.
        let bad = MeshParams {
            low: 4,
            ..MeshParams::SMALL_NETWORK
        };
        assert!(!bad.is_consistent());
    }

    #[test]
    fn mesh_parameters_fit_3_to_50_nodes() {
        let mesh = MeshParams::SMALL_NETWORK;
        // A 3-node network gives each node 2 peers: enough to reach `low`.
        assert!(mesh.low <= 2);
        // A 50-node network keeps each mesh well below the peer count.
        assert!(mesh.high < 50);
    }

    #[test]
    fn config_builds_for_fast_and_slow_heartbeats() {
        for ms in [100, 200, 500, 1000] {
            config(Duration::from_millis(ms)).unwrap();
        }
        score_params().0.validate().unwrap();
        topic_score_params().validate().unwrap();
    }

    #[test]
    fn a_flooding_peer_is_blocked_before_it_is_graylisted() {
        let topic = topic_score_params();
        let graylist = score_params().1.graylist_threshold;
        // P₄ is the squared count of invalid deliveries (which never outnumber strikes).
        let score = |n: u32| {
            topic.topic_weight * topic.invalid_message_deliveries_weight * f64::from(n * n)
        };
        let cfg = super::super::NetConfig::default();
        let strikes = cfg.max_strikes;
        assert!(strikes < INVALID_BEFORE_GRAYLIST);
        assert!(score(INVALID_BEFORE_GRAYLIST - 1) >= graylist);
        assert!(score(INVALID_BEFORE_GRAYLIST) < graylist);
        // Strikes decay more slowly than the count of invalid deliveries: in the time that
        // forgives one strike, a peer at the strike limit loses more than one from its count.
        let intervals =
            cfg.strike_decay.as_secs_f64() / score_params().0.decay_interval.as_secs_f64();
        let kept = topic.invalid_message_deliveries_decay.powf(intervals);
        assert!(f64::from(strikes) * kept < f64::from(strikes) - 1.0);
    }

    #[test]
    fn ids_are_content_hashes() {
        assert_eq!(content_id(b"a"), content_id(b"a"));
        assert_ne!(content_id(b"a"), content_id(b"b"));
    }
}
