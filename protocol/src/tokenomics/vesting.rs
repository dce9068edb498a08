//! Vesting: a grant releases nothing before its cliff, then linearly until it has all
//! vested.

use serde::{Deserialize, Serialize};

/// Tokens granted at an epoch that vest over a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Granted.
    pub total: u64,
    /// Already released to the holder.
    pub released: u64,
    /// The epoch of the grant.
    pub start: u64,
}

impl Grant {
    /// How much of the grant has vested at `epoch` under `cliff` and `duration`.
    pub fn vested(&self, cliff: u64, duration: u64, epoch: u64) -> u64 {
        vested(self.total, self.start, cliff, duration, epoch)
    }
}

/// How much of `total`, granted at `start`, has vested at `epoch`: nothing before
/// `start + cliff`, `floor(total · elapsed / duration)` until `start + duration`, all after.
/// A duration of 0 vests everything at once.
pub fn vested(total: u64, start: u64, cliff: u64, duration: u64, epoch: u64) -> u64 {
    let elapsed = epoch.saturating_sub(start);
    if elapsed < cliff {
        return 0;
    }
    if duration == 0 || elapsed >= duration {
        return total;
    }
    (u128::from(total) * u128::from(elapsed) / u128::from(duration)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_before_the_cliff_then_linear_then_all() {
        // 300 over 30 epochs, cliff 7, granted at epoch 10.
        assert_eq!(vested(300, 10, 7, 30, 16), 0);
        assert_eq!(vested(300, 10, 7, 30, 17), 70);
        assert_eq!(vested(300, 10, 7, 30, 25), 150);
        assert_eq!(vested(300, 10, 7, 30, 40), 300);
        assert_eq!(vested(300, 10, 7, 30, 1_000), 300);
        assert_eq!(vested(10, 0, 0, 3, 1), 3);
        assert_eq!(vested(10, 0, 0, 0, 0), 10);
    }
}
