//! The market buybacks trade on: a constant-product pool of native tokens against the fee
//! asset, without a trading fee.

use serde::{Deserialize, Serialize};

/// A constant-product pool: `native · fee_asset` never falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Native tokens held.
    pub native: u64,
    /// Fee asset held.
    pub fee_asset: u64,
}

impl Pool {
    /// Native tokens out for `fee_in` of the fee asset: `floor(native · in / (fee + in))`.
    /// Rounding down leaves the remainder in the pool, so the product never falls.
    pub fn quote_native_out(&self, fee_in: u64) -> u64 {
        let (x, y, dy) = (
            u128::from(self.native),
            u128::from(self.fee_asset),
            u128::from(fee_in),
        );
        if y + dy == 0 {
            return 0;
        }
        (x * dy / (y + dy)) as u64
    }

    /// Sells `fee_in` of the fee asset for native tokens; returns how many came out.
    pub fn buy_native(&mut self, fee_in: u64) -> Option<u64> {
        let out = self.quote_native_out(fee_in);
        self.fee_asset = self.fee_asset.checked_add(fee_in)?;
        self.native -= out;
        Some(out)
    }

    /// The spot price of one native token in fee-asset units, as a fraction
    /// `(fee_asset, native)`.
    pub fn price(&self) -> (u64, u64) {
        (self.fee_asset, self.native)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_follows_the_curve_and_never_lowers_the_product() {
        let mut pool = Pool {
            native: 1_000,
            fee_asset: 1_000,
        };
        // 1000·100/1100 = 90.9…: 90 out.
        assert_eq!(pool.buy_native(100), Some(90));
        assert_eq!(
            pool,
            Pool {
                native: 910,
                fee_asset: 1_100
            }
        );
        let k = |p: &Pool| u128::from(p.native) * u128::from(p.fee_asset);
        assert!(k(&pool) >= 1_000 * 1_000);
        assert_eq!(pool.buy_native(0), Some(0));
    }
}
