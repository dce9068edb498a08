//! Where a chain would settle: what a Supernet's ledger starts with (allocations, stakes,
//! delegations, its first budget) and the end of each epoch (emissions, released
//! unbonding).
//!
//! [`InProcess`] settles in the gateway's own ledger, from the Supernet config. A
//! chain-backed implementation would read the genesis bonds and balances from the chain's
//! staking and token contracts, and at each epoch's end credit the Supernet's budget with
//! the share of the network's emission the chain allocated it (pro rata to what is bonded to
//! every Supernet, which one gateway cannot see) instead of computing it locally.

use crate::PublicKey;
use crate::config::SupernetConfig;
use crate::ids::SupernetId;
use crate::tokenomics::{Bond, Ledger, LedgerError};

/// Where stakes, delegations and emissions are settled.
pub trait Settlement: Send + Sync {
    /// The ledger the Supernet starts with.
    fn genesis(&self) -> Result<Ledger, LedgerError>;

    /// Ends the ledger's current epoch; returns what was emitted.
    fn end_epoch(&self, ledger: &mut Ledger) -> Result<u64, LedgerError>;
}

/// Settlement in the gateway's own ledger, from the Supernet config: a ledger of this one
/// Supernet, whose budget receives the whole emission it computes.
#[derive(Debug, Clone)]
pub struct InProcess {
    supernet: SupernetConfig,
}

impl InProcess {
    /// Settles `supernet`'s ledger, if its config runs the token rules.
    pub fn new(supernet: &SupernetConfig) -> Option<Self> {
        supernet.economics.tokens.as_ref()?;
        Some(Self {
            supernet: supernet.clone(),
        })
    }

    fn id(&self) -> &SupernetId {
        &self.supernet.id
    }
}

fn key(peer: &libp2p_identity::PeerId) -> Result<PublicKey, LedgerError> {
    PublicKey::from_peer_id(peer).map_err(|e| LedgerError::Params(e.to_string()))
}

impl Settlement for InProcess {
    /// Allocations liquid; each prover's deposit allocated and staked; each delegation
    /// allocated and delegated; the genesis budget moved from the treasury.
    fn genesis(&self) -> Result<Ledger, LedgerError> {
        let tokens = self
            .supernet
            .economics
            .tokens
            .as_ref()
            .ok_or_else(|| LedgerError::Params("the Supernet runs no token rules".into()))?;
        let stakes = self
            .supernet
            .economics
            .deposits
            .iter()
            .map(|d| Ok((key(&d.prover)?, d.amount, Some(Bond::Stake))));
        let delegations = tokens
            .delegations
            .iter()
            .map(|a| Ok((key(&a.account)?, a.amount, Some(Bond::Delegation))));
        let liquid = tokens
            .allocations
            .iter()
            .map(|a| Ok((key(&a.account)?, a.amount, None)));
        let all: Vec<(PublicKey, u64, Option<Bond>)> = liquid
            .chain(stakes)
            .chain(delegations)
            .collect::<Result<_, LedgerError>>()?;
        let allocations: Vec<(PublicKey, u64)> = all.iter().map(|(k, a, _)| (*k, *a)).collect();
        let mut ledger = Ledger::genesis(tokens.rules.clone(), &allocations)?;
        for (who, amount, bond) in &all {
            if let Some(bond) = bond {
                ledger.bond(who, self.id(), *bond, *amount)?;
            }
        }
        ledger.fund_budget(self.id(), tokens.genesis_budget)?;
        Ok(ledger)
    }

    fn end_epoch(&self, ledger: &mut Ledger) -> Result<u64, LedgerError> {
        ledger.end_epoch()
    }
}
