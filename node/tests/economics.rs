//! `lagrange-node economics simulate` on the committed example scenario: the CSV and the
//! charts it writes, and what they show.

use std::path::Path;

use lagrange_node::tools::economics::{CSV_HEADER, run};

#[test]
fn the_example_scenario_writes_a_csv_and_four_charts_that_follow_the_rules() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/economics-example.toml");
    let out = tempfile::tempdir().unwrap();
    let written = run(&config, 120, out.path()).unwrap();
    assert_eq!(written.len(), 5);
    let csv = std::fs::read_to_string(out.path().join("economics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 120);
    // Supply: the initial supply plus every epoch's emission, 50,000,000 a year over 365.
    let mut emitted = 0.0;
    for r in &rows {
        emitted += r[4];
        assert_eq!(r[1], 1_000_000_000.0 + emitted);
        // Circulating plus locked never exceeds the total (budgets are neither).
        assert!(r[2] + r[3] <= r[1]);
        // What clients pay is at least the 20% the cap leaves them.
        assert!(r[8] >= 0.2 && r[8] <= 1.0);
    }
    // Subsidies lower what clients pay once budgets fill; demand drives buybacks, which
    // raise the pool price.
    assert_eq!(rows[0][8], 1.0);
    assert!(rows[60][8] < 0.9);
    assert!(rows[119][11] > rows[0][11]);
    for file in [
        "supply.svg",
        "client-share.svg",
        "buybacks.svg",
        "prover-income.svg",
    ] {
        let svg = std::fs::read_to_string(out.path().join(file)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{file}"
        );
    }
    // A scenario that is not one is refused with its file named.
    let bad = out.path().join("bad.toml");
    std::fs::write(&bad, "[tokenomics]\nepochs_per_year = 0\n").unwrap();
    let err = run(&bad, 1, out.path()).unwrap_err();
    assert!(format!("{err:#}").contains("bad.toml"), "{err:#}");
}
