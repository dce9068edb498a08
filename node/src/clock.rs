//! The node's one clock: the tick both roles run on and the wall clock in Unix milliseconds.
//!
//! Every role and the client API read time here, so a test or a testnet can shift a whole
//! process's clock ([`set_skew_ms`]) and show that nothing depends on two machines agreeing
//! on the time: the gateway judges every deadline on its own clock, and a prover turns the
//! gateway's times into its own by the offset it observes ([`Offset`]).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lagrange_protocol::UnixMillis;

/// How often the roles look at their clocks (batches, windows, deadlines, retries).
pub const TICK: Duration = Duration::from_millis(25);

static SKEW_MS: AtomicI64 = AtomicI64::new(0);

/// Shifts this process's clock by `skew` milliseconds (negative: behind). For testnets
/// that show the protocol tolerates machines whose clocks disagree.
pub fn set_skew_ms(skew: i64) {
    SKEW_MS.store(skew, Ordering::Relaxed);
}

/// The wall clock in Unix milliseconds, shifted by [`set_skew_ms`].
pub fn now_ms() -> UnixMillis {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    wall.saturating_add_signed(SKEW_MS.load(Ordering::Relaxed))
}

/// The wall clock ([`now_ms`]) made monotonic: never earlier than a time it has read
/// before, so a clock stepped back holds still until it catches up. The gateway's driver
/// stamps arriving messages with it and hands the same time to its core, so a stamp is
/// never later than the time the core handles the message at.
#[derive(Debug, Default)]
pub struct Monotonic {
    last: AtomicU64,
}

impl Monotonic {
    /// The time: the wall clock, or the latest time read before if that is later.
    pub fn now(&self) -> UnixMillis {
        self.at(now_ms())
    }

    /// [`Monotonic::now`] for a wall clock reading `wall`.
    pub fn at(&self, wall: UnixMillis) -> UnixMillis {
        self.last.fetch_max(wall, Ordering::SeqCst).max(wall)
    }
}

/// How far a peer's clock is behind ours, as seen through messages that carry the peer's
/// send time: the smallest `local receive time - remote send time` among the last few
/// samples. Latency only ever adds to a sample, so the smallest is the best estimate of
/// skew plus the fastest delivery, and a remote time plus the offset is never earlier
/// than when we could have heard of it.
#[derive(Debug, Clone, Default)]
pub struct Offset {
    samples: std::collections::VecDeque<i64>,
}

impl Offset {
    /// Samples kept.
    const WINDOW: usize = 16;

    /// Records a message sent at `remote` (the peer's clock) and received at `local` (ours).
    pub fn observe(&mut self, remote: UnixMillis, local: UnixMillis) {
        let sample = (local as i128 - remote as i128).clamp(i64::MIN as i128, i64::MAX as i128);
        if self.samples.len() == Self::WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(sample as i64);
    }

    /// The estimate in milliseconds (0 before any sample).
    pub fn millis(&self) -> i64 {
        self.samples.iter().copied().min().unwrap_or(0)
    }

    /// A time on the peer's clock, on ours.
    pub fn to_local(&self, remote: UnixMillis) -> UnixMillis {
        remote.saturating_add_signed(self.millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monotonic_clock_holds_still_while_the_wall_clock_is_behind() {
        let clock = Monotonic::default();
        assert_eq!(clock.at(5_000), 5_000);
        assert_eq!(clock.at(4_000), 5_000);
        assert_eq!(clock.at(5_001), 5_001);
        assert!(clock.now() >= 5_001);
    }

    #[test]
    fn the_offset_is_the_fastest_sample_and_maps_remote_times() {
        let mut o = Offset::default();
        assert_eq!(o.to_local(1_000), 1_000);
        // The peer is 2 s behind us; deliveries take 30..200 ms.
        o.observe(10_000, 12_200);
        o.observe(11_000, 13_030);
        o.observe(12_000, 14_100);
        assert_eq!(o.millis(), 2_030);
        assert_eq!(o.to_local(20_000), 22_030);
        // A peer ahead of us gives a negative offset.
        let mut ahead = Offset::default();
        ahead.observe(10_000, 8_050);
        assert_eq!(ahead.to_local(10_500), 8_550);
        assert_eq!(ahead.to_local(0), 0);
    }
}
