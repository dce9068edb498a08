//! An account with the gateway, a prover's or a client's: stake, balance and penalties paid.

use serde::{Deserialize, Serialize};

/// A prover's (or the client's) money and stake, in the Supernet's fee unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stake left after slashes.
    pub stake: u64,
    /// Earned and not withdrawn.
    pub balance: u64,
    /// Total slashed.
    pub slashed: u64,
    /// Jobs paid for.
    pub jobs_paid: u64,
    /// Times slashed for an invalid or late proof.
    pub failures: u64,
    /// Times penalized for not revealing.
    pub non_reveals: u64,
}
