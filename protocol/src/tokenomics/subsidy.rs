//! How a verified job's price is paid: partly by the client's fee, partly from the
//! Supernet's emission budget.
//!
//! The subsidized share is `min(max_subsidy, budget value / demand)`, where the budget value
//! is the Supernet's emission budget at the pool's price and demand is the value of the jobs
//! it expects to pay this epoch (the last epoch's, at least this job's price). A Supernet
//! with a large budget and little demand pays up to the cap; one whose demand outgrows its
//! budget subsidizes less, so the budget is never spent faster than demand draws on it.

use serde::{Deserialize, Serialize};

/// How one job's price was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The job's price, in fee units.
    pub price: u64,
    /// What the client pays, in fee units.
    pub client: u64,
    /// What the budget covers, in fee units.
    pub subsidy_value: u64,
    /// The same, in native tokens from the budget at the pool's price.
    pub subsidy_native: u64,
}

/// Splits `price` given the Supernet's `budget` (native tokens), the expected `demand`
/// (fee units), the pool's `price_of_native` as `(fee units, native tokens)` and the cap
/// `max_subsidy_bps`. Rounds the subsidy down (the client pays the remainder), and never
/// takes more native tokens than the budget holds.
pub fn split(
    price: u64,
    budget: u64,
    demand: u64,
    price_of_native: (u64, u64),
    max_subsidy_bps: u16,
) -> Split {
    let (fee, native) = (u128::from(price_of_native.0), u128::from(price_of_native.1));
    let none = Split {
        price,
        client: price,
        subsidy_value: 0,
        subsidy_native: 0,
    };
    if fee == 0 || native == 0 || price == 0 {
        return none;
    }
    let demand = u128::from(demand.max(price));
    let budget_value = u128::from(budget) * fee / native;
    // Subsidy share in basis points: the cap, or what the budget covers of the demand.
    let share = (budget_value * 10_000 / demand).min(u128::from(max_subsidy_bps));
    let mut value = u128::from(price) * share / 10_000;
    let mut tokens = value * native / fee;
    if tokens > u128::from(budget) {
        tokens = u128::from(budget);
        value = tokens * fee / native;
    }
    Split {
        price,
        client: price - value as u64,
        subsidy_value: value as u64,
        subsidy_native: tokens as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rich_budget_pays_the_cap_and_a_thin_one_its_share_of_demand() {
        // Price 1000, token worth 2 fee units, cap 80%.
        // Budget 1,000,000 tokens = 2,000,000 units against demand 10,000: the cap.
        let s = split(1_000, 1_000_000, 10_000, (2, 1), 8_000);
        assert_eq!(
            (s.client, s.subsidy_value, s.subsidy_native),
            (200, 800, 400)
        );
        // Budget 1,000 tokens = 2,000 units against demand 10,000: 20%.
        let s = split(1_000, 1_000, 10_000, (2, 1), 8_000);
        assert_eq!(
            (s.client, s.subsidy_value, s.subsidy_native),
            (800, 200, 100)
        );
        // An empty budget: the client pays everything.
        let s = split(1_000, 0, 10_000, (2, 1), 8_000);
        assert_eq!((s.client, s.subsidy_native), (1_000, 0));
        // Never more tokens than the budget: 1 token left, worth 2 units.
        let s = split(1_000, 1, 1, (2, 1), 8_000);
        assert_eq!((s.client, s.subsidy_value, s.subsidy_native), (998, 2, 1));
    }
}
