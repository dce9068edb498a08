//! A deterministic sample workload for the coprocessor query: rows and a key range that
//! devnets, calibration and tests use when they need a query but have no client data. The
//! same arguments always give the same rows, so any two nodes agree on them.

/// A deterministic sample data set and query for task `t`: `rows` `(key, value)` rows with
/// keys below 1000 and values below 10 000, and the key range `[lo, hi]` to sum over.
pub fn sample_task(t: usize, rows: usize) -> (Vec<(u64, u64)>, u64, u64) {
    let data = (0..rows as u64)
        .map(|i| {
            (
                (i * 7919 + t as u64 * 13) % 1000,
                (i * 31 + t as u64) % 10_000,
            )
        })
        .collect();
    (data, 100, 600)
}
