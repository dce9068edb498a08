//! Counters the network layer keeps for operators and tests.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one Supernet's swarm.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Events the application was too slow to take.
    pub events_dropped: Counter,
    /// Gossip ignored because the validation queue was full.
    pub gossip_ignored_busy: Counter,
    /// Valid gossip dropped for coming too often from one peer.
    pub gossip_rate_limited: Counter,
    /// Gossip accepted after validation.
    pub gossip_accepted: Counter,
    /// Gossip rejected by validation.
    pub gossip_rejected: Counter,
    /// Inbound requests refused (non-members, or the application was busy).
    pub requests_refused: Counter,
    /// Incoming connections denied.
    pub connections_denied: Counter,
    /// Peers with at least one open connection.
    peers: AtomicI64,
    /// Inbound requests waiting for the application's answer.
    inbound_pending: AtomicI64,
    /// The most that ever waited at once.
    inbound_pending_peak: AtomicI64,
}

impl NetStats {
    /// Peers connected now.
    pub fn peers(&self) -> i64 {
        self.peers.load(Ordering::Relaxed)
    }

    /// Inbound requests waiting for the application's answer now.
    pub fn inbound_pending(&self) -> i64 {
        self.inbound_pending.load(Ordering::Relaxed)
    }

    /// The most inbound requests that ever waited at once.
    pub fn inbound_pending_peak(&self) -> i64 {
        self.inbound_pending_peak.load(Ordering::Relaxed)
    }

    pub(crate) fn set_inbound_pending(&self, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.inbound_pending.store(n, Ordering::Relaxed);
        self.inbound_pending_peak.fetch_max(n, Ordering::Relaxed);
    }

    /// A peer's first connection opened (`true`) or its last one closed.
    pub(crate) fn peer_connected(&self, up: bool) {
        self.peers
            .fetch_add(if up { 1 } else { -1 }, Ordering::Relaxed);
    }
}
