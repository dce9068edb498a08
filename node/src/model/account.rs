//! An account with the gateway, a prover's or a client's: stake, balance and penalties paid,
//! and the rules by which a payment or a penalty changes it (the store applies them).

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

/// What a penalty is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Penalty {
    /// An invalid or late proof of an assigned job.
    Failure,
    /// A commit never revealed.
    NonReveal,
}

impl Account {
    /// Charges a penalty of `amount` to the stake, never more than is left, and counts it;
    /// returns what was taken.
    pub fn slash(&mut self, amount: u64, why: Penalty) -> u64 {
        let cut = amount.min(self.stake);
        self.stake -= cut;
        self.slashed = self.slashed.saturating_add(cut);
        let count = match why {
            Penalty::Failure => &mut self.failures,
            Penalty::NonReveal => &mut self.non_reveals,
        };
        *count = count.saturating_add(1);
        cut
    }

    /// Pays `price` for a verified proof; `None`, and nothing changed, if the balance
    /// would overflow.
    pub fn pay(&mut self, price: u64) -> Option<()> {
        self.balance = self.balance.checked_add(price)?;
        self.jobs_paid = self.jobs_paid.saturating_add(1);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_penalty_takes_at_most_the_stake_left_and_is_counted_by_kind() {
        let mut a = Account {
            stake: 10,
            ..Account::default()
        };
        assert_eq!(a.slash(4, Penalty::Failure), 4);
        assert_eq!(a.slash(100, Penalty::NonReveal), 6);
        assert_eq!(a.slash(1, Penalty::NonReveal), 0);
        assert_eq!((a.stake, a.slashed), (0, 10));
        assert_eq!((a.failures, a.non_reveals), (1, 2));
    }

    #[test]
    fn a_payment_that_would_overflow_changes_nothing() {
        let mut a = Account {
            balance: u64::MAX - 1,
            ..Account::default()
        };
        assert_eq!(a.pay(1), Some(()));
        let before = a.clone();
        assert_eq!(a.pay(1), None);
        assert_eq!(a, before);
        assert_eq!(a.jobs_paid, 1);
    }
}
