//! Per-peer rate limits for traffic that is valid but excessive (availability announcements,
//! parameter chunks): a fixed window per peer, and a bounded table of peers.
//!
//! A full table never refuses a peer for others being many: it drops expired windows, and
//! if every window is still live it evicts the least active one (fewest events, then the
//! oldest). Forgetting a window only ever gives that peer a fresh count, so eviction can
//! make the limiter more lenient, never stricter, and a peer over its limit, being among the
//! most active, is the last to be forgotten.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use tokio::time::Instant;

/// Peers tracked at most.
pub const MAX_PEERS: usize = 4096;

/// Allows each peer at most `limit` events per `window`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    peers: HashMap<PeerId, (Instant, u32)>,
}

impl RateLimiter {
    /// At most `limit` events per peer per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            peers: HashMap::new(),
        }
    }

    /// Counts an event of `peer` at `now`; `false` when it is over its limit.
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        self.count(peer, now) <= self.limit
    }

    /// Counts an event of `peer` at `now` and returns its count in the current window. A new
    /// peer always starts at one, however full the table (see the module's comment).
    pub fn count(&mut self, peer: PeerId, now: Instant) -> u32 {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            self.make_room(now);
        }
        let (start, count) = self.peers.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
        *count
    }

    /// Frees at least one slot of a full table: expired windows go, else the least active.
    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        self.peers
            .retain(|_, (start, _)| now.duration_since(*start) < window);
        if self.peers.len() < MAX_PEERS {
            return;
        }
        let least_active = self
            .peers
            .iter()
            .min_by_key(|(_, (start, count))| (*count, *start))
            .map(|(peer, _)| *peer);
        if let Some(peer) = least_active {
            self.peers.remove(&peer);
        }
    }

    /// The limit per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_gets_its_limit_per_window() {
        let mut r = RateLimiter::new(3, Duration::from_secs(10));
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        assert!((0..3).all(|_| r.allow(a, t0)));
        assert!(!r.allow(a, t0));
        assert!(r.allow(b, t0));
        assert!(r.allow(a, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn a_full_table_still_counts_a_new_peer_from_one() {
        let mut r = RateLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        // A peer well over its limit, then the table filled with live windows of one event.
        let flooder = PeerId::random();
        for _ in 0..10 {
            r.count(flooder, t0);
        }
        for _ in 1..MAX_PEERS {
            assert_eq!(r.count(PeerId::random(), t0), 1);
        }
        assert_eq!(r.peers.len(), MAX_PEERS);
        // A new peer gets its limit like any other: others being many is not its doing.
        let honest = PeerId::random();
        let t1 = t0 + Duration::from_secs(1);
        for n in 1..=3 {
            assert_eq!(r.count(honest, t1), n);
        }
        assert!(!r.allow(honest, t1));
        assert!(r.peers.len() <= MAX_PEERS);
        // A churn of new peers evicts the least active windows, never the flooder's: it stays
        // over its limit.
        for _ in 0..256 {
            assert!(r.allow(PeerId::random(), t0 + Duration::from_secs(2)));
            assert!(r.peers.len() <= MAX_PEERS);
        }
        assert_eq!(r.count(flooder, t0 + Duration::from_secs(3)), 11);
        // Once the windows expire, a peer starts a fresh one.
        assert_eq!(r.count(flooder, t0 + Duration::from_secs(11)), 1);
    }
}
