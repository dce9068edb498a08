//! Per-peer rate limits for traffic that is valid but excessive (availability announcements,
//! parameter chunks): a fixed window per peer, and a bounded table of peers.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use tokio::time::Instant;

/// Peers tracked at most; the table is swept of expired windows when it is full, and a new
/// peer is refused while it stays full.
const MAX_PEERS: usize = 4096;

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

    /// Counts an event of `peer` at `now` and returns its count in the current window
    /// (`u32::MAX` when the table of peers is full).
    pub fn count(&mut self, peer: PeerId, now: Instant) -> u32 {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            let window = self.window;
            self.peers
                .retain(|_, (start, _)| now.duration_since(*start) < window);
            if self.peers.len() >= MAX_PEERS {
                return u32::MAX;
            }
        }
        let (start, count) = self.peers.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
        *count
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
    fn the_table_of_peers_is_bounded() {
        let mut r = RateLimiter::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..MAX_PEERS {
            assert!(r.allow(PeerId::random(), t0));
        }
        // Full of live windows: a new peer waits.
        assert!(!r.allow(PeerId::random(), t0));
        // Once those windows expire, new peers are tracked again.
        assert!(r.allow(PeerId::random(), t0 + Duration::from_secs(11)));
        assert!(r.peers.len() <= MAX_PEERS);
    }
}
