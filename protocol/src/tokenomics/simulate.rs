//! A scenario run through the token rules, epoch by epoch: Supernets with delegated stake
//! and client demand, provers paid for every job. The same ledger operations as the
//! network's, so what the figures show is what the rules do.

use serde::{Deserialize, Serialize};

use super::ledger::{Bond, Ledger, LedgerError};
use super::params::TokenomicsParams;
use crate::{Keypair, PublicKey, SupernetId};

/// A simulated network.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The token rules.
    #[serde(default)]
    pub tokenomics: TokenomicsParams,
    /// The Supernets.
    pub supernets: Vec<SupernetScenario>,
}

/// One simulated Supernet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetScenario {
    /// Its id.
    pub id: SupernetId,
    /// Tokens holders delegate to it at genesis (given to them from the initial supply).
    pub delegated: u64,
    /// Jobs clients pay for in the first epoch.
    pub jobs_per_epoch: u64,
    /// Growth of that demand per epoch, in basis points (100 = 1% more each epoch).
    #[serde(default)]
    pub demand_growth_bps: u32,
    /// The price of a job, in fee units.
    pub job_price: u64,
    /// Provers sharing its jobs.
    pub provers: u32,
}

/// One epoch's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// The epoch.
    pub epoch: u64,
    /// Total native supply.
    pub total_supply: u64,
    /// Liquid supply plus the pool's and the treasury's.
    pub circulating: u64,
    /// Bonded, unbonding and vesting.
    pub locked: u64,
    /// Emitted this epoch.
    pub emitted: u64,
    /// Jobs paid this epoch.
    pub jobs: u64,
    /// Fee units clients paid this epoch.
    pub client_paid: u64,
    /// Fee units the budgets covered this epoch.
    pub subsidized: u64,
    /// The share clients paid of the jobs' prices.
    pub client_paid_fraction: f64,
    /// Fee units spent on buybacks this epoch.
    pub buyback_fee: u64,
    /// Native tokens bought back this epoch.
    pub buyback_native: u64,
    /// The pool's price of a native token, in fee units.
    pub pool_price: f64,
    /// Fee units provers received this epoch.
    pub prover_income_fee: u64,
    /// Native tokens provers claimed (vested) this epoch.
    pub prover_income_native: u64,
}

fn key(tag: u64, n: u64) -> PublicKey {
    Keypair::insecure_from_seed(tag << 32 | n).public()
}

/// Runs `scenario` for `epochs` epochs.
pub fn simulate(scenario: &Scenario, epochs: u64) -> Result<Vec<EpochRow>, LedgerError> {
    let holders: Vec<(PublicKey, u64)> = scenario
        .supernets
        .iter()
        .enumerate()
        .map(|(i, s)| (key(1, i as u64), s.delegated))
        .collect();
    let mut ledger = Ledger::genesis(scenario.tokenomics.clone(), &holders)?;
    for (s, (holder, amount)) in scenario.supernets.iter().zip(&holders) {
        ledger.bond(holder, &s.id, Bond::Delegation, *amount)?;
    }
    let provers: Vec<Vec<PublicKey>> = scenario
        .supernets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (0..u64::from(s.provers.max(1)))
                .map(|p| key(3, (i as u64) << 16 | p))
                .collect()
        })
        .collect();
    let mut rows = Vec::with_capacity(epochs as usize);
    let mut demand: Vec<f64> = scenario
        .supernets
        .iter()
        .map(|s| s.jobs_per_epoch as f64)
        .collect();
    for epoch in 0..epochs {
        let mut row = EpochRow {
            epoch,
            total_supply: 0,
            circulating: 0,
            locked: 0,
            emitted: 0,
            jobs: 0,
            client_paid: 0,
            subsidized: 0,
            client_paid_fraction: 1.0,
            buyback_fee: 0,
            buyback_native: 0,
            pool_price: 0.0,
            prover_income_fee: 0,
            prover_income_native: 0,
        };
        for (i, s) in scenario.supernets.iter().enumerate() {
            let jobs = demand[i].round() as u64;
            let client = key(2, i as u64);
            ledger.deposit_fees(&client, jobs.saturating_mul(s.job_price))?;
            for j in 0..jobs {
                let prover = &provers[i][(j % provers[i].len() as u64) as usize];
                let pay = ledger.pay_job(&s.id, &client, prover, s.job_price)?;
                row.jobs += 1;
                row.client_paid += pay.split.client;
                row.subsidized += pay.split.subsidy_value;
                row.buyback_fee += pay.buyback_fee;
                row.buyback_native += pay.bought_native;
                row.prover_income_fee += pay.prover_fee;
            }
            demand[i] *= 1.0 + f64::from(s.demand_growth_bps) / 10_000.0;
        }
        for p in provers.iter().flatten() {
            row.prover_income_native += ledger.claim(p)?;
        }
        row.emitted = ledger.end_epoch()?;
        let supply = ledger.supply();
        row.total_supply = supply.total() as u64;
        row.locked = supply.locked() as u64;
        row.circulating = (u128::from(supply.liquid)
            + u128::from(supply.pool)
            + u128::from(supply.treasury)) as u64;
        let total = row.client_paid + row.subsidized;
        if total > 0 {
            row.client_paid_fraction = row.client_paid as f64 / total as f64;
        }
        let pool = ledger.pool();
        row.pool_price = pool.fee_asset as f64 / pool.native as f64;
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidies_lower_what_clients_pay_and_demand_drives_buybacks() {
        let scenario = Scenario {
            tokenomics: TokenomicsParams {
                epochs_per_year: 12,
                ..TokenomicsParams::default()
            },
            supernets: vec![SupernetScenario {
                id: SupernetId::new("s").unwrap(),
                delegated: 1_000_000,
                jobs_per_epoch: 20,
                demand_growth_bps: 1_000,
                job_price: 1_000,
                provers: 2,
            }],
        };
        let rows = simulate(&scenario, 6).unwrap();
        // Epoch 0 has no budget yet; from epoch 1 the emission subsidizes.
        assert_eq!(rows[0].client_paid_fraction, 1.0);
        assert!(rows[1].client_paid_fraction < 0.5);
        // Growing demand buys back more, and the pool price rises.
        assert!(rows[5].buyback_fee > rows[1].buyback_fee);
        assert!(rows[5].pool_price > rows[0].pool_price);
        for r in &rows {
            assert_eq!(r.client_paid + r.subsidized, r.jobs * 1_000);
        }
    }
}
