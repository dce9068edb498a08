//! Strikes against peers for invalid traffic (rejected gossip, requests from non-members,
//! malformed requests): counted per peer, forgiven with time, in a bounded table.
//!
//! - A peer that reaches the strike limit is to be blocked; the block is for good (the
//!   swarm's block list holds it), and the peer leaves this table.
//! - One strike is forgiven for every decay interval that passes without a new strike from
//!   the peer, so an honest peer with a rare fault (one per interval or rarer) never reaches
//!   the limit, while a flood does within seconds.
//! - At most [`MAX_TRACKED`] peers are tracked. To make room, fully forgiven peers go first,
//!   then the peer with the fewest strikes left (the longest quiet first): forgetting a peer
//!   only forgives it early, and the worst offenders are the last to be forgotten.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use tokio::time::Instant;

/// Peers with strikes tracked at most.
pub const MAX_TRACKED: usize = 4096;

/// What one more strike did to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Struck {
    /// The peer's strikes now, this one included.
    pub strikes: u32,
    /// The peer reached the strike limit: block it.
    pub block: bool,
}

/// A peer's strikes as of its last one.
#[derive(Debug, Clone, Copy)]
struct Record {
    strikes: u32,
    last: Instant,
}

/// Strikes per peer.
#[derive(Debug)]
pub struct Strikes {
    max: u32,
    decay: Duration,
    peers: HashMap<PeerId, Record>,
}

impl Strikes {
    /// Blocks at `max` strikes; forgives one strike per `decay` without a new one.
    pub fn new(max: u32, decay: Duration) -> Self {
        Self {
            max,
            decay,
            peers: HashMap::new(),
        }
    }

    /// Counts a strike against `peer` at `now`.
    pub fn strike(&mut self, peer: PeerId, now: Instant) -> Struck {
        let before = match self.peers.get(&peer) {
            Some(record) => left(self.decay, record, now),
            None => {
                if self.peers.len() >= MAX_TRACKED {
                    self.make_room(now);
                }
                0
            }
        };
        let strikes = before.saturating_add(1);
        let block = strikes >= self.max;
        if block {
            self.peers.remove(&peer);
        } else {
            self.peers.insert(peer, Record { strikes, last: now });
        }
        Struck { strikes, block }
    }

    /// Frees at least one slot of a full table (see the module's comment).
    fn make_room(&mut self, now: Instant) {
        let decay = self.decay;
        let before = self.peers.len();
        self.peers.retain(|_, record| left(decay, record, now) > 0);
        if self.peers.len() < before {
            return;
        }
        let fewest = self
            .peers
            .iter()
            .min_by_key(|(_, record)| (left(decay, record, now), record.last))
            .map(|(peer, _)| *peer);
        if let Some(peer) = fewest {
            self.peers.remove(&peer);
        }
    }

    /// Peers tracked now.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer has strikes.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// The strikes of `record` left at `now`: one is forgiven per `decay` since its last one.
fn left(decay: Duration, record: &Record, now: Instant) -> u32 {
    let quiet = now.saturating_duration_since(record.last);
    let forgiven = match decay.as_nanos() {
        0 => u128::MAX,
        decay => quiet.as_nanos() / decay,
    };
    record
        .strikes
        .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn peer(n: u64) -> PeerId {
        lagrange_protocol::Keypair::insecure_from_seed(n).peer_id()
    }

    #[test]
    fn a_flood_of_strikes_blocks_at_the_limit() {
        let mut s = Strikes::new(8, MIN);
        let t0 = Instant::now();
        for n in 1..8 {
            assert_eq!(
                s.strike(peer(1), t0),
                Struck {
                    strikes: n,
                    block: false
                }
            );
        }
        assert!(s.strike(peer(1), t0 + Duration::from_secs(1)).block);
    }

    #[test]
    fn strikes_decay_one_per_interval_without_offence() {
        let mut s = Strikes::new(8, MIN);
        let t0 = Instant::now();
        // An honest peer with a fault a minute (or rarer) is never blocked, however long it
        // runs.
        for i in 0..100u32 {
            let struck = s.strike(peer(1), t0 + MIN * i);
            assert_eq!(struck.strikes, 1, "fault {i}");
        }
        // Seven quick strikes, then quiet: each interval forgives one.
        let t1 = t0 + MIN * 200;
        for _ in 0..6 {
            s.strike(peer(2), t1);
        }
        assert_eq!(s.strike(peer(2), t1).strikes, 7);
        assert_eq!(s.strike(peer(2), t1 + MIN * 3).strikes, 5);
        // Less than an interval since the last strike forgives nothing.
        assert_eq!(
            s.strike(peer(2), t1 + MIN * 4 - Duration::from_secs(1))
                .strikes,
            6
        );
        // Seven intervals of quiet forgive everything: it starts again from one.
        assert_eq!(s.strike(peer(2), t1 + MIN * 20).strikes, 1);
    }

    #[test]
    fn the_table_of_strikes_is_bounded_and_keeps_the_worst_offenders() {
        let mut s = Strikes::new(8, MIN);
        let t0 = Instant::now();
        // A persistent offender, six strikes in.
        for _ in 0..6 {
            s.strike(peer(0), t0);
        }
        // Many peers with one strike each, all live (no time passes).
        for n in 1..=(MAX_TRACKED as u64 + 256) {
            assert!(!s.strike(peer(n), t0).block);
            assert!(s.len() <= MAX_TRACKED, "{} tracked", s.len());
        }
        // The churn forgave the one-strike peers, not the offender: two more block it.
        assert!(!s.strike(peer(0), t0).block);
        assert_eq!(
            s.strike(peer(0), t0),
            Struck {
                strikes: 8,
                block: true
            }
        );
        // A blocked peer leaves the table (the block list holds it from now on).
        assert!(!s.peers.contains_key(&peer(0)));
        assert!(s.len() < MAX_TRACKED);
    }
}
