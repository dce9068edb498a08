//! The parameters of the token rules, one network-wide table.

use serde::{Deserialize, Serialize};

/// Where slashed stake goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashTo {
    /// Destroyed: total supply falls.
    Burn,
    /// Kept by the treasury.
    Treasury,
}

/// The token rules' parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenomicsParams {
    /// Native tokens in existence at genesis.
    pub initial_supply: u64,
    /// Native tokens emitted per year.
    pub annual_emission: u64,
    /// Epochs per year; each releases its share of the annual emission.
    pub epochs_per_year: u64,
    /// Most of a job's price the emission budget may pay, in basis points.
    pub max_subsidy_bps: u16,
    /// Share of each client fee that buys native tokens back, in basis points.
    pub buyback_bps: u16,
    /// Epochs before anything of a grant vests.
    pub vesting_cliff_epochs: u64,
    /// Epochs over which a grant vests linearly (from its start; at least the cliff).
    pub vesting_epochs: u64,
    /// Epochs an unbonding stake waits before it is liquid again.
    pub unbonding_epochs: u64,
    /// Where slashed stake goes.
    pub slash_to: SlashTo,
    /// The pool's starting native-token reserve (part of the initial supply).
    pub pool_native: u64,
    /// The pool's starting fee-asset reserve.
    pub pool_fee_asset: u64,
}

impl Default for TokenomicsParams {
    /// 1,000,000,000 tokens; 5% a year over 365 daily epochs; subsidies up to 80%; 20% of
    /// fees bought back; vesting over 30 epochs after a 7-epoch cliff; 14 epochs unbonding;
    /// slashes burnt; a pool of 10,000,000 tokens against 10,000,000 fee units.
    fn default() -> Self {
        Self {
            initial_supply: 1_000_000_000,
            annual_emission: 50_000_000,
            epochs_per_year: 365,
            max_subsidy_bps: 8_000,
            buyback_bps: 2_000,
            vesting_cliff_epochs: 7,
            vesting_epochs: 30,
            unbonding_epochs: 14,
            slash_to: SlashTo::Burn,
            pool_native: 10_000_000,
            pool_fee_asset: 10_000_000,
        }
    }
}

impl TokenomicsParams {
    /// Checks the parameters make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs_per_year == 0 {
            return Err("epochs_per_year must be positive".into());
        }
        if self.max_subsidy_bps > 10_000 || self.buyback_bps > 10_000 {
            return Err("basis points above 10000".into());
        }
        if self.vesting_epochs < self.vesting_cliff_epochs {
            return Err("vesting_epochs is shorter than the cliff".into());
        }
        if self.pool_native > self.initial_supply {
            return Err("the pool holds more than the initial supply".into());
        }
        if self.pool_native == 0 || self.pool_fee_asset == 0 {
            return Err("the pool needs both reserves".into());
        }
        Ok(())
    }
}
