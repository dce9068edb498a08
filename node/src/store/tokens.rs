//! The token ledger of a Supernet that runs the token rules: its state (one record) and what
//! each task's jobs cost under them. The rules themselves come from outside
//! ([`TokenRules`]); the store applies them inside the transactions that pay a proof or slash
//! a stake, so a payment and its ledger entries land together or not at all.

use std::sync::{Arc, OnceLock};

use lagrange_protocol::tokenomics::{JobPayment, Ledger, LedgerError};
use lagrange_protocol::{Price, PublicKey, TaskId, UnixMillis};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use super::{Store, StoreError, TxResult, abort, dec, enc, get, tx_get};

const STATE: &[u8] = b"state";
const TASK: u8 = b't';

/// What the token rules do when the store pays a proof or slashes a stake. Each method is
/// pure on the ledger it is given: a transaction may run it more than once.
pub trait TokenRules: Send + Sync {
    /// Pays `prover` a verified job of `price`.
    fn pay(
        &self,
        ledger: &mut Ledger,
        prover: &PublicKey,
        price: Price,
    ) -> Result<JobPayment, LedgerError>;

    /// Slashes up to `amount` of `prover`'s stake; returns what was slashed.
    fn slash(
        &self,
        ledger: &mut Ledger,
        prover: &PublicKey,
        amount: u64,
    ) -> Result<u64, LedgerError>;
}

/// The token rules a store applies, set once when its gateway starts.
pub(super) type RulesCell = Arc<OnceLock<Arc<dyn TokenRules>>>;

/// The ledger and when it started (epochs count from there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenState {
    /// When the ledger started, on the gateway's clock.
    pub genesis_at: UnixMillis,
    /// The ledger.
    pub ledger: Ledger,
    /// What every verified job cost under the rules, summed.
    pub paid: TaskPayments,
}

/// What a task's verified jobs cost under the token rules, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPayments {
    /// Jobs paid.
    pub jobs: u64,
    /// Their prices, in fee units.
    pub price: u64,
    /// What the client paid, in fee units.
    pub client_paid: u64,
    /// What the emission budget covered, in fee units.
    pub subsidized: u64,
    /// The same, in native tokens (granted to the provers, vesting).
    pub subsidy_native: u64,
    /// Fee units of the client's part that bought native tokens back.
    pub buyback_fee: u64,
    /// Native tokens bought back (granted to the provers, vesting).
    pub bought_native: u64,
}

impl TaskPayments {
    fn add(&mut self, p: &JobPayment) -> Option<()> {
        self.jobs = self.jobs.checked_add(1)?;
        self.price = self.price.checked_add(p.split.price)?;
        self.client_paid = self.client_paid.checked_add(p.split.client)?;
        self.subsidized = self.subsidized.checked_add(p.split.subsidy_value)?;
        self.subsidy_native = self.subsidy_native.checked_add(p.split.subsidy_native)?;
        self.buyback_fee = self.buyback_fee.checked_add(p.buyback_fee)?;
        self.bought_native = self.bought_native.checked_add(p.bought_native)?;
        Some(())
    }
}

pub(super) fn task_key(task: &TaskId) -> Vec<u8> {
    let mut key = vec![TASK];
    key.extend_from_slice(task.as_bytes());
    key
}

fn refused(e: LedgerError) -> StoreError {
    StoreError::Tokens(e)
}

/// Inside a transaction: pays a job under the rules, if the store runs them. Returns what the
/// ledger recorded.
pub(super) fn tx_pay(
    tokens: &TransactionalTree,
    rules: &RulesCell,
    task: &TaskId,
    prover: &PublicKey,
    price: Price,
) -> TxResult<Option<JobPayment>> {
    let (Some(rules), Some(mut state)) =
        (rules.get(), tx_get::<TokenState>(tokens, "tokens", STATE)?)
    else {
        return Ok(None);
    };
    let paid = match rules.pay(&mut state.ledger, prover, price) {
        Ok(paid) => paid,
        Err(e) => return abort(refused(e)),
    };
    let mut sums =
        tx_get::<TaskPayments>(tokens, "task payments", &task_key(task))?.unwrap_or_default();
    if sums.add(&paid).is_none() || state.paid.add(&paid).is_none() {
        return abort(StoreError::Overflow("the task's payments"));
    }
    tokens.insert(STATE, enc(&state))?;
    tokens.insert(task_key(task), enc(&sums))?;
    Ok(Some(paid))
}

/// Inside a transaction: slashes a stake under the rules, if the store runs them.
pub(super) fn tx_slash(
    tokens: &TransactionalTree,
    rules: &RulesCell,
    prover: &PublicKey,
    amount: u64,
) -> TxResult<()> {
    let (Some(rules), Some(mut state)) =
        (rules.get(), tx_get::<TokenState>(tokens, "tokens", STATE)?)
    else {
        return Ok(());
    };
    if let Err(e) = rules.slash(&mut state.ledger, prover, amount) {
        return abort(refused(e));
    }
    tokens.insert(STATE, enc(&state))?;
    Ok(())
}

impl Store {
    /// Applies `rules` to every payment and slash from now on (once; later calls are
    /// ignored).
    pub fn set_token_rules(&self, rules: Arc<dyn TokenRules>) {
        let _ = self.token_rules.set(rules);
    }

    /// The token ledger, starting it with `genesis` at `at` if there is none yet.
    pub fn init_tokens(
        &self,
        at: UnixMillis,
        genesis: impl FnOnce() -> Result<Ledger, LedgerError>,
    ) -> Result<TokenState, StoreError> {
        if let Some(state) = self.tokens()? {
            return Ok(state);
        }
        let state = TokenState {
            genesis_at: at,
            ledger: genesis().map_err(refused)?,
            paid: TaskPayments::default(),
        };
        self.tokens.insert(STATE, enc(&state))?;
        Ok(state)
    }

    /// The token ledger, if the Supernet runs the token rules.
    pub fn tokens(&self) -> Result<Option<TokenState>, StoreError> {
        get(&self.tokens, "tokens", STATE)
    }

    /// Changes the token ledger with `change` (pure: it may run more than once), atomically.
    /// `None` when there is no ledger.
    pub fn update_tokens<T>(
        &self,
        change: impl Fn(&mut Ledger) -> Result<T, LedgerError>,
    ) -> Result<Option<T>, StoreError> {
        let out = self.tokens.transaction(|tokens| {
            let Some(mut state) = tx_get::<TokenState>(tokens, "tokens", STATE)? else {
                return Ok(None);
            };
            let out = match change(&mut state.ledger) {
                Ok(out) => out,
                Err(e) => return abort(refused(e)),
            };
            tokens.insert(STATE, enc(&state))?;
            Ok(Some(out))
        })?;
        Ok(out)
    }

    /// What a task's verified jobs cost under the token rules.
    pub fn task_payments(&self, task: &TaskId) -> Result<Option<TaskPayments>, StoreError> {
        self.tokens
            .get(task_key(task))?
            .map(|b| dec("task payments", &b))
            .transpose()
    }
}
