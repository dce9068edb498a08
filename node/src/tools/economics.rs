//! `lagrange-node economics simulate`: runs a scenario through the token rules
//! ([`lagrange_protocol::tokenomics::simulate`]) and writes what happened, epoch by epoch,
//! as a CSV file and SVG charts: supply (total, circulating, locked), the share of job
//! prices clients paid, buybacks and the pool price, and provers' income.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::chart;

use lagrange_protocol::tokenomics::simulate::{EpochRow, Scenario, simulate};

/// The CSV header, in the column order of [`csv_line`].
pub const CSV_HEADER: &str = "epoch,total_supply,circulating,locked,emitted,jobs,client_paid,subsidized,client_paid_fraction,buyback_fee,buyback_native,pool_price,prover_income_fee,prover_income_native";

fn csv_line(r: &EpochRow) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{:.4},{},{},{:.6},{},{}",
        r.epoch,
        r.total_supply,
        r.circulating,
        r.locked,
        r.emitted,
        r.jobs,
        r.client_paid,
        r.subsidized,
        r.client_paid_fraction,
        r.buyback_fee,
        r.buyback_native,
        r.pool_price,
        r.prover_income_fee,
        r.prover_income_native
    )
}

/// Reads a scenario (TOML).
pub fn load_scenario(path: &Path) -> Result<Scenario> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let scenario: Scenario =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    scenario
        .tokenomics
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(scenario)
}

/// Runs the scenario at `config` for `epochs` epochs and writes `economics.csv` and the
/// charts into `out`. Returns the files written.
pub fn run(config: &Path, epochs: u64, out: &Path) -> Result<Vec<PathBuf>> {
    let scenario = load_scenario(config)?;
    let rows = simulate(&scenario, epochs).context("the scenario breaks a ledger rule")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    let csv = out.join("economics.csv");
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for r in &rows {
        text.push_str(&csv_line(r));
        text.push('\n');
    }
    std::fs::write(&csv, text).with_context(|| format!("writing {}", csv.display()))?;
    written.push(csv);
    let m = 1e6;
    let charts: [Chart; 4] = [
        (
            "supply.svg",
            "Native supply",
            "millions of tokens",
            vec![
                (
                    "total",
                    rows.iter().map(|r| r.total_supply as f64 / m).collect(),
                ),
                (
                    "circulating",
                    rows.iter().map(|r| r.circulating as f64 / m).collect(),
                ),
                (
                    "locked (bonded, unbonding, vesting)",
                    rows.iter().map(|r| r.locked as f64 / m).collect(),
                ),
            ],
        ),
        (
            "client-share.svg",
            "Share of job prices paid by clients",
            "fraction",
            vec![(
                "client-paid fraction",
                rows.iter().map(|r| r.client_paid_fraction).collect(),
            )],
        ),
        (
            "buybacks.svg",
            "Buybacks and pool price",
            "fee units / tokens",
            vec![
                (
                    "buyback volume (thousand fee units)",
                    rows.iter().map(|r| r.buyback_fee as f64 / 1e3).collect(),
                ),
                (
                    "pool price (fee units per token)",
                    rows.iter().map(|r| r.pool_price).collect(),
                ),
            ],
        ),
        (
            "prover-income.svg",
            "Prover income per epoch",
            "thousands",
            vec![
                (
                    "fee units",
                    rows.iter()
                        .map(|r| r.prover_income_fee as f64 / 1e3)
                        .collect(),
                ),
                (
                    "native tokens vested",
                    rows.iter()
                        .map(|r| r.prover_income_native as f64 / 1e3)
                        .collect(),
                ),
            ],
        ),
    ];
    for (file, title, unit, series) in charts {
        let path = out.join(file);
        let panel = chart::Panel {
            title,
            x_desc: "epoch",
            unit,
            x: (0..rows.len()).map(|e| e as f64).collect(),
            series,
        };
        chart::write(&path, 1, &[panel]).with_context(|| format!("drawing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// A chart's file, title, unit and named series of one value per epoch.
type Chart<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, Vec<f64>)>);
