//! Where every native token is, and the operations that move them.
//!
//! A token is in exactly one place: liquid (an account's), bonded (staked by a prover or
//! delegated by a holder, to a Supernet), unbonding, vesting (granted, not yet released),
//! a Supernet's emission budget (emitted, not yet paid), the pool, or the treasury. Total
//! supply is the initial supply plus emissions minus burns, and always equals the sum over
//! the places ([`Ledger::supply`]). The fee asset, which clients pay in, is tracked
//! beside it: accounts' fee balances plus the pool's reserve equal the pool's starting
//! reserve plus what clients deposited.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::emission::{epoch_emission, pro_rata};
use super::params::{SlashTo, TokenomicsParams};
use super::pool::Pool;
use super::subsidy::{self, Split};
use super::vesting::Grant;
use crate::{PublicKey, SupernetId};

/// How tokens are bonded to a Supernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bond {
    /// A prover's own stake.
    Stake,
    /// A holder's delegation: it directs emissions to the Supernet.
    Delegation,
}

/// Why an operation was refused. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// More than the place holds.
    #[error("{what}: {wanted} wanted, {held} held")]
    Insufficient {
        /// Which balance.
        what: &'static str,
        /// What the operation needs.
        wanted: u64,
        /// What there is.
        held: u64,
    },
    /// A sum that does not fit.
    #[error("amount overflow")]
    Overflow,
    /// Parameters that do not make sense.
    #[error("parameters: {0}")]
    Params(String),
}

/// Stake waiting to be liquid again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unbonding {
    /// Its holder.
    pub holder: PublicKey,
    /// The amount.
    pub amount: u64,
    /// The epoch it is released at.
    pub until: u64,
}

/// How one verified job was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayment {
    /// The price split between the client and the budget.
    pub split: Split,
    /// Fee units of the client's part that bought native tokens back.
    pub buyback_fee: u64,
    /// Native tokens those bought, granted to the prover (vesting).
    pub bought_native: u64,
    /// Fee units the prover received.
    pub prover_fee: u64,
}

/// Where the native supply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Supply {
    /// At genesis.
    pub initial: u64,
    /// Emitted since.
    pub emitted: u64,
    /// Burnt since.
    pub burned: u64,
    /// Liquid in accounts.
    pub liquid: u64,
    /// Bonded to Supernets.
    pub bonded: u64,
    /// Unbonding.
    pub unbonding: u64,
    /// Granted, not yet released.
    pub vesting: u64,
    /// In Supernets' emission budgets.
    pub budgets: u64,
    /// In the pool.
    pub pool: u64,
    /// In the treasury.
    pub treasury: u64,
}

impl Supply {
    /// `initial + emitted − burned`.
    pub fn total(&self) -> u128 {
        u128::from(self.initial) + u128::from(self.emitted) - u128::from(self.burned)
    }

    /// The sum over the places.
    pub fn placed(&self) -> u128 {
        [
            self.liquid,
            self.bonded,
            self.unbonding,
            self.vesting,
            self.budgets,
            self.pool,
            self.treasury,
        ]
        .iter()
        .map(|v| u128::from(*v))
        .sum()
    }

    /// Tokens that cannot be spent now: bonded, unbonding and vesting.
    pub fn locked(&self) -> u128 {
        u128::from(self.bonded) + u128::from(self.unbonding) + u128::from(self.vesting)
    }
}

/// The ledger of one network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ledger {
    params: TokenomicsParams,
    epoch: u64,
    liquid: BTreeMap<PublicKey, u64>,
    bonded: BTreeMap<(SupernetId, PublicKey, Bond), u64>,
    unbonding: Vec<Unbonding>,
    vesting: BTreeMap<PublicKey, Vec<Grant>>,
    budgets: BTreeMap<SupernetId, u64>,
    /// Per Supernet: the value of jobs paid (fee units) last epoch and this one.
    demand: BTreeMap<SupernetId, (u64, u64)>,
    pool: Pool,
    treasury: u64,
    fees: BTreeMap<PublicKey, u64>,
    fees_deposited: u64,
    emitted: u64,
    burned: u64,
}

fn add(a: u64, b: u64) -> Result<u64, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

fn take(what: &'static str, held: &mut u64, wanted: u64) -> Result<(), LedgerError> {
    *held = held.checked_sub(wanted).ok_or(LedgerError::Insufficient {
        what,
        wanted,
        held: *held,
    })?;
    Ok(())
}

impl Ledger {
    /// The ledger at genesis: `allocations` liquid, the pool's reserves, and the rest of
    /// the initial supply in the treasury.
    pub fn genesis(
        params: TokenomicsParams,
        allocations: &[(PublicKey, u64)],
    ) -> Result<Self, LedgerError> {
        params.validate().map_err(LedgerError::Params)?;
        let mut liquid: BTreeMap<PublicKey, u64> = BTreeMap::new();
        let mut given = params.pool_native;
        for (who, amount) in allocations {
            given = add(given, *amount)?;
            let held = liquid.entry(*who).or_default();
            *held = add(*held, *amount)?;
        }
        let treasury = params
            .initial_supply
            .checked_sub(given)
            .ok_or(LedgerError::Params(
                "allocations and the pool exceed the initial supply".into(),
            ))?;
        Ok(Self {
            pool: Pool {
                native: params.pool_native,
                fee_asset: params.pool_fee_asset,
            },
            params,
            epoch: 0,
            liquid,
            bonded: BTreeMap::new(),
            unbonding: Vec::new(),
            vesting: BTreeMap::new(),
            budgets: BTreeMap::new(),
            demand: BTreeMap::new(),
            treasury,
            fees: BTreeMap::new(),
            fees_deposited: 0,
            emitted: 0,
            burned: 0,
        })
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The parameters.
    pub fn params(&self) -> &TokenomicsParams {
        &self.params
    }

    /// The pool.
    pub fn pool(&self) -> Pool {
        self.pool
    }

    /// An account's liquid native tokens.
    pub fn liquid(&self, who: &PublicKey) -> u64 {
        self.liquid.get(who).copied().unwrap_or(0)
    }

    /// An account's fee-asset balance.
    pub fn fees(&self, who: &PublicKey) -> u64 {
        self.fees.get(who).copied().unwrap_or(0)
    }

    /// What `who` has bonded to `supernet` as `bond`.
    pub fn bonded(&self, supernet: &SupernetId, who: &PublicKey, bond: Bond) -> u64 {
        self.bonded
            .get(&(supernet.clone(), *who, bond))
            .copied()
            .unwrap_or(0)
    }

    /// Every account the ledger holds anything for.
    pub fn accounts(&self) -> std::collections::BTreeSet<PublicKey> {
        self.liquid
            .keys()
            .chain(self.fees.keys())
            .chain(self.vesting.keys())
            .chain(self.bonded.keys().map(|(_, who, _)| who))
            .chain(self.unbonding.iter().map(|u| &u.holder))
            .copied()
            .collect()
    }

    /// What `who` has bonded as `bond`, to every Supernet.
    pub fn bonded_total(&self, who: &PublicKey, bond: Bond) -> u64 {
        self.bonded
            .iter()
            .filter(|((_, w, b), _)| w == who && *b == bond)
            .map(|(_, v)| *v)
            .sum()
    }

    /// A Supernet's emission budget.
    pub fn budget(&self, supernet: &SupernetId) -> u64 {
        self.budgets.get(supernet).copied().unwrap_or(0)
    }

    /// `who`'s unbonding tokens.
    pub fn unbonding(&self, who: &PublicKey) -> u64 {
        self.unbonding
            .iter()
            .filter(|u| u.holder == *who)
            .map(|u| u.amount)
            .sum()
    }

    /// `who`'s grants: (still vesting, vested and not yet claimed).
    pub fn vesting(&self, who: &PublicKey) -> (u64, u64) {
        let p = &self.params;
        self.vesting.get(who).map_or((0, 0), |grants| {
            grants.iter().fold((0, 0), |(locked, ready), g| {
                let v = g.vested(p.vesting_cliff_epochs, p.vesting_epochs, self.epoch);
                (locked + g.total - v, ready + v - g.released)
            })
        })
    }

    /// Where the native supply is.
    pub fn supply(&self) -> Supply {
        Supply {
            initial: self.params.initial_supply,
            emitted: self.emitted,
            burned: self.burned,
            liquid: self.liquid.values().sum(),
            bonded: self.bonded.values().sum(),
            unbonding: self.unbonding.iter().map(|u| u.amount).sum(),
            vesting: self
                .vesting
                .values()
                .flatten()
                .map(|g| g.total - g.released)
                .sum(),
            budgets: self.budgets.values().sum(),
            pool: self.pool.native,
            treasury: self.treasury,
        }
    }

    /// Fee asset held by accounts and the pool, and what the pool started with plus what
    /// clients deposited: always equal.
    pub fn fee_asset(&self) -> (u128, u128) {
        let held: u128 = self.fees.values().map(|v| u128::from(*v)).sum::<u128>()
            + u128::from(self.pool.fee_asset);
        let brought = u128::from(self.params.pool_fee_asset) + u128::from(self.fees_deposited);
        (held, brought)
    }

    /// A client brings `amount` of the fee asset.
    pub fn deposit_fees(&mut self, client: &PublicKey, amount: u64) -> Result<(), LedgerError> {
        let deposited = add(self.fees_deposited, amount)?;
        let held = add(self.fees(client), amount)?;
        self.fees_deposited = deposited;
        self.fees.insert(*client, held);
        Ok(())
    }

    /// Bonds liquid tokens of `who` to `supernet`.
    pub fn bond(
        &mut self,
        who: &PublicKey,
        supernet: &SupernetId,
        bond: Bond,
        amount: u64,
    ) -> Result<(), LedgerError> {
        let mut liquid = self.liquid(who);
        take("liquid", &mut liquid, amount)?;
        let bonded = add(self.bonded(supernet, who, bond), amount)?;
        self.liquid.insert(*who, liquid);
        self.bonded.insert((supernet.clone(), *who, bond), bonded);
        Ok(())
    }

    /// Starts unbonding: the tokens leave the bond now and are liquid again after the
    /// unbonding period.
    pub fn unbond(
        &mut self,
        who: &PublicKey,
        supernet: &SupernetId,
        bond: Bond,
        amount: u64,
    ) -> Result<(), LedgerError> {
        let mut bonded = self.bonded(supernet, who, bond);
        take("bonded", &mut bonded, amount)?;
        self.bonded.insert((supernet.clone(), *who, bond), bonded);
        self.unbonding.push(Unbonding {
            holder: *who,
            amount,
            until: self.epoch.saturating_add(self.params.unbonding_epochs),
        });
        Ok(())
    }

    /// Slashes up to `amount` of a bond; the tokens are burnt or go to the treasury, as
    /// configured. Returns what was slashed.
    pub fn slash(
        &mut self,
        who: &PublicKey,
        supernet: &SupernetId,
        bond: Bond,
        amount: u64,
    ) -> Result<u64, LedgerError> {
        let held = self.bonded(supernet, who, bond);
        let slashed = amount.min(held);
        match self.params.slash_to {
            SlashTo::Burn => self.burned = add(self.burned, slashed)?,
            SlashTo::Treasury => self.treasury = add(self.treasury, slashed)?,
        }
        self.bonded
            .insert((supernet.clone(), *who, bond), held - slashed);
        Ok(slashed)
    }

    /// Moves `amount` from the treasury into `supernet`'s emission budget (what a chain
    /// allocated it before the ledger started).
    pub fn fund_budget(&mut self, supernet: &SupernetId, amount: u64) -> Result<(), LedgerError> {
        let mut treasury = self.treasury;
        take("treasury", &mut treasury, amount)?;
        let budget = add(self.budget(supernet), amount)?;
        self.treasury = treasury;
        self.budgets.insert(supernet.clone(), budget);
        Ok(())
    }

    /// How a job of `price` fee units would be paid now: the client's part and the budget's.
    pub fn quote(&self, supernet: &SupernetId, price: u64) -> Split {
        let (last, _) = self.demand.get(supernet).copied().unwrap_or((0, 0));
        subsidy::split(
            price,
            self.budget(supernet),
            last,
            self.pool.price(),
            self.params.max_subsidy_bps,
        )
    }

    /// Pays a verified job whose client pays from outside the ledger (through the gateway,
    /// or an escrow a chain holds): the client's part of the fee asset is brought in for
    /// `client` and the job paid as [`Ledger::pay_job`] does. Changes nothing on failure.
    pub fn settle_job(
        &mut self,
        supernet: &SupernetId,
        client: &PublicKey,
        prover: &PublicKey,
        price: u64,
    ) -> Result<JobPayment, LedgerError> {
        let mut next = self.clone();
        next.deposit_fees(client, self.quote(supernet, price).client)?;
        let paid = next.pay_job(supernet, client, prover, price)?;
        *self = next;
        Ok(paid)
    }

    /// Pays a verified job of `price` fee units: the budget covers its subsidized share
    /// (granted to the prover as vesting native tokens), the client pays the rest in the fee
    /// asset, of which the buyback share buys native tokens from the pool (granted to the
    /// prover, vesting) and the remainder goes to the prover.
    pub fn pay_job(
        &mut self,
        supernet: &SupernetId,
        client: &PublicKey,
        prover: &PublicKey,
        price: u64,
    ) -> Result<JobPayment, LedgerError> {
        let budget = self.budget(supernet);
        let (last, now) = self.demand.get(supernet).copied().unwrap_or((0, 0));
        let split = self.quote(supernet, price);
        let mut client_fees = self.fees(client);
        take("client fee balance", &mut client_fees, split.client)?;
        let buyback_fee =
            (u128::from(split.client) * u128::from(self.params.buyback_bps) / 10_000) as u64;
        let prover_fee = split.client - buyback_fee;
        let demand_now = add(now, price)?;
        // Every check is done: apply.
        let mut pool = self.pool;
        let bought_native = pool.buy_native(buyback_fee).ok_or(LedgerError::Overflow)?;
        let prover_fees = add(self.fees(prover), prover_fee)?;
        self.pool = pool;
        self.fees.insert(*client, client_fees);
        // The client and the prover may be the same account.
        let prover_fees = if client == prover {
            add(client_fees, prover_fee)?
        } else {
            prover_fees
        };
        self.fees.insert(*prover, prover_fees);
        self.budgets
            .insert(supernet.clone(), budget - split.subsidy_native);
        self.demand.insert(supernet.clone(), (last, demand_now));
        let grant = add(split.subsidy_native, bought_native)?;
        if grant > 0 {
            // One grant per prover per epoch: a job paid in the epoch of the last grant adds
            // to it (they vest on the same schedule).
            let grants = self.vesting.entry(*prover).or_default();
            match grants.last_mut() {
                Some(last) if last.start == self.epoch && last.released == 0 => {
                    last.total = add(last.total, grant)?;
                }
                _ => grants.push(Grant {
                    total: grant,
                    released: 0,
                    start: self.epoch,
                }),
            }
        }
        Ok(JobPayment {
            split,
            buyback_fee,
            bought_native,
            prover_fee,
        })
    }

    /// Releases `who`'s vested tokens to its liquid balance; returns how many.
    pub fn claim(&mut self, who: &PublicKey) -> Result<u64, LedgerError> {
        let p = &self.params;
        let Some(grants) = self.vesting.get_mut(who) else {
            return Ok(0);
        };
        let mut claimed = 0u64;
        for g in grants.iter_mut() {
            let v = g.vested(p.vesting_cliff_epochs, p.vesting_epochs, self.epoch);
            claimed = add(claimed, v - g.released)?;
            g.released = v;
        }
        grants.retain(|g| g.released < g.total);
        let liquid = add(self.liquid(who), claimed)?;
        self.liquid.insert(*who, liquid);
        Ok(claimed)
    }

    /// Ends the epoch: emits its share of the annual emission into the Supernets' budgets
    /// pro rata to what is bonded to each (what rounding leaves, or everything when nothing
    /// is bonded, goes to the treasury), releases matured unbonding, and starts the next
    /// epoch. Returns what was emitted.
    pub fn end_epoch(&mut self) -> Result<u64, LedgerError> {
        let emission = epoch_emission(
            self.params.annual_emission,
            self.params.epochs_per_year,
            self.epoch,
        );
        let mut weights: BTreeMap<SupernetId, u64> = BTreeMap::new();
        for ((supernet, _, _), amount) in &self.bonded {
            let w = weights.entry(supernet.clone()).or_default();
            *w = add(*w, *amount)?;
        }
        let (shares, dust) = pro_rata(emission, &weights);
        self.emitted = add(self.emitted, emission)?;
        self.treasury = add(self.treasury, dust)?;
        for (supernet, share) in shares {
            let b = self.budgets.entry(supernet).or_default();
            *b = add(*b, share)?;
        }
        self.epoch += 1;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unbonding)
            .into_iter()
            .partition(|u| u.until <= self.epoch);
        self.unbonding = waiting;
        for u in ready {
            let liquid = add(self.liquid(&u.holder), u.amount)?;
            self.liquid.insert(u.holder, liquid);
        }
        for (last, now) in self.demand.values_mut() {
            *last = std::mem::take(now);
        }
        Ok(emission)
    }
}
