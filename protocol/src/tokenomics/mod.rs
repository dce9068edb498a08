//! The network's token economics as pure rules: emissions, their allocation across
//! Supernets, job subsidies, fee buybacks through a constant-product pool, vesting, and
//! staking and delegation with unbonding and slashing.
//!
//! Everything is integer arithmetic on `u64` amounts (intermediate products in `u128`),
//! checked: an operation that would overdraw a balance fails with a [`LedgerError`] and
//! changes nothing. **Rounding rule:** every division rounds down, and what rounding leaves
//! over goes to a stated place (the treasury for emissions, the pool for swaps, the client
//! for subsidies); no token is created or lost by rounding.
//!
//! - [`params`]: the rules' parameters (a network's `[tokenomics]` table);
//! - [`emission`]: the per-epoch emission and its allocation pro rata to bonded stake;
//! - [`pool`]: the constant-product market buybacks trade on;
//! - [`vesting`]: cliff-and-linear release;
//! - [`subsidy`]: how a job's price splits between the client and the emission budget;
//! - [`ledger`]: where every token is, and the operations that move them;
//! - [`simulate`]: a scenario of Supernets, demand and provers run through the ledger.

pub mod emission;
pub mod ledger;
pub mod params;
pub mod pool;
pub mod simulate;
pub mod subsidy;
pub mod vesting;

pub use ledger::{Bond, JobPayment, Ledger, LedgerError, Supply};
pub use params::{SlashTo, TokenomicsParams};
