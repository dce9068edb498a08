//! The gateway's token ledger, for a Supernet that runs the token rules: the rules the store
//! pays proofs and slashes stakes under ([`SupernetTokens`]), and the epochs the gateway
//! ends on its clock ([`Epochs`]), both settled in process
//! ([`lagrange_protocol::settlement::InProcess`]).
//!
//! The gateway settles for its clients: a job's client share of the fee is brought into the
//! ledger under the gateway's own account as the job is paid (clients pay the gateway, off
//! the ledger, for what they submit), as a chain-backed settlement would take it from the
//! client's escrow.

use std::sync::Arc;

use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::settlement::{InProcess, Settlement};
use lagrange_protocol::tokenomics::{Bond, JobPayment, Ledger, LedgerError};
use lagrange_protocol::{Price, PublicKey, SupernetId, UnixMillis};
use tracing::info;

use crate::store::{Store, StoreError, TokenRules};

/// Epochs ended at most per tick, so a gateway back from a long outage catches up over a few
/// ticks instead of stalling one.
const MAX_EPOCHS_PER_TICK: u64 = 64;

/// The token rules of one Supernet, applied by its gateway's store.
#[derive(Debug, Clone)]
pub struct SupernetTokens {
    supernet: SupernetId,
    escrow: PublicKey,
}

impl TokenRules for SupernetTokens {
    fn pay(
        &self,
        ledger: &mut Ledger,
        prover: &PublicKey,
        price: Price,
    ) -> Result<JobPayment, LedgerError> {
        ledger.settle_job(&self.supernet, &self.escrow, prover, price)
    }

    fn slash(
        &self,
        ledger: &mut Ledger,
        prover: &PublicKey,
        amount: u64,
    ) -> Result<u64, LedgerError> {
        ledger.slash(prover, &self.supernet, Bond::Stake, amount)
    }
}

/// Ends the ledger's epochs as the gateway's clock passes them.
pub struct Epochs {
    settlement: InProcess,
    epoch_ms: u64,
    genesis_at: UnixMillis,
}

impl Epochs {
    /// Starts the token ledger of `supernet` in `store` (at genesis, the first time) and has
    /// the store pay and slash under its rules; `None` if the Supernet runs none.
    pub fn start(
        supernet: &SupernetConfig,
        escrow: PublicKey,
        store: &Store,
        now: UnixMillis,
    ) -> Result<Option<Self>, StoreError> {
        let (Some(settlement), Some(tokens)) =
            (InProcess::new(supernet), supernet.economics.tokens.as_ref())
        else {
            return Ok(None);
        };
        let state = store.init_tokens(now, || settlement.genesis())?;
        store.set_token_rules(Arc::new(SupernetTokens {
            supernet: supernet.id.clone(),
            escrow,
        }));
        info!(
            supernet = %supernet.id,
            epoch = state.ledger.epoch(),
            budget = state.ledger.budget(&supernet.id),
            "token ledger running"
        );
        Ok(Some(Self {
            settlement,
            epoch_ms: tokens.epoch_ms.max(1),
            genesis_at: state.genesis_at,
        }))
    }

    /// Ends every epoch over at `now` (a bounded number per call); returns what they
    /// emitted.
    pub fn catch_up(&self, store: &Store, now: UnixMillis) -> Result<u64, StoreError> {
        let due = now.saturating_sub(self.genesis_at) / self.epoch_ms;
        let emitted = store.update_tokens(|ledger| {
            let mut emitted = 0u64;
            let mut ended = 0;
            while ledger.epoch() < due && ended < MAX_EPOCHS_PER_TICK {
                emitted = emitted.saturating_add(self.settlement.end_epoch(ledger)?);
                ended += 1;
            }
            Ok(emitted)
        })?;
        Ok(emitted.unwrap_or(0))
    }

    /// Whether an epoch is over at `now` that the ledger has not ended (checked cheaply
    /// before [`Epochs::catch_up`] reads the ledger).
    pub fn due(&self, ended: u64, now: UnixMillis) -> bool {
        now.saturating_sub(self.genesis_at) / self.epoch_ms > ended
    }
}
