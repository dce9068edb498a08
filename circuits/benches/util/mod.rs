//! Helpers the circuits crate's benchmarks share: timing, medians, rounding, and writing
//! the JSON report under `target/bench-results/`.

use std::path::PathBuf;
use std::time::Duration;

/// Milliseconds, to the microsecond.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The median (the mean of the middle two for an even count; NaN when empty).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// `x` to three decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Writes `text` to `target/bench-results/<name>`, saying where (or why not) on stderr.
pub fn write_result(name: &str, text: &str) {
    let dir = target_dir().join("bench-results");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(name), format!("{text}\n")));
    match written {
        Ok(()) => eprintln!("wrote {}", dir.join(name).display()),
        Err(e) => eprintln!("could not write {}: {e}", dir.display()),
    }
}
