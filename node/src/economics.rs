//! `lagrange-node economics simulate`: runs a scenario through the token rules
//! ([`lagrange_protocol::tokenomics::simulate`]) and writes what happened, epoch by epoch,
//! as a CSV file and SVG charts: supply (total, circulating, locked), the share of job
//! prices clients paid, buybacks and the pool price, and provers' income.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;

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
        chart(&path, title, unit, &series)
            .with_context(|| format!("drawing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Named series of one value per epoch.
type Series<'a> = Vec<(&'a str, Vec<f64>)>;

/// A chart's file, title, unit and series.
type Chart<'a> = (&'a str, &'a str, &'a str, Series<'a>);

/// One line chart of `series` over the epochs.
fn chart(path: &Path, title: &str, unit: &str, series: &[(&str, Vec<f64>)]) -> Result<()> {
    let n = series.first().map_or(0, |(_, v)| v.len()).max(2);
    let hi = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0f64, f64::max);
    let hi = if hi > 0.0 { hi * 1.1 } else { 1.0 };
    let root = SVGBackend::new(path, (800, 450)).into_drawing_area();
    let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..hi)
        .map_err(|e| draw(&e))?;
    c.configure_mesh()
        .x_desc("epoch")
        .y_desc(unit)
        .draw()
        .map_err(|e| draw(&e))?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (name, values)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        c.draw_series(LineSeries::new(
            values.iter().enumerate().map(|(x, y)| (x as f64, *y)),
            color.stroke_width(2),
        ))
        .map_err(|e| draw(&e))?
        .label(*name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| draw(&e))?;
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}
