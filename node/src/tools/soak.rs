//! `lagrange-node soak-check`: judges a soak run of the testnet (`testnet/run.sh --soak`).
//!
//! The run leaves three files in its directory: `samples.csv` (what the operating system and
//! the gateways' `/metrics` said at each sample: memory, open files, store size, tasks ended),
//! `submitted.tsv` (when each task went in) and `report.json` (the final audit, with each
//! task's status and latency). This joins them into `soak.csv`, one row per sample with
//! throughput and latency percentiles over the interval it closes, draws `soak.svg`, and
//! fails the run if a task was lost or anything grows without bound.
//!
//! "Without bound" is judged on the middle and last thirds of the samples (the first third
//! is warm-up): memory may not rise by more than [`RSS_GROWTH`] plus [`RSS_SLACK_MB`] (its
//! slope over the last two thirds is reported beside), open
//! files by more than [`FDS_SLACK`], the store's bytes per task done by more than
//! [`STORE_GROWTH`] plus [`STORE_SLACK_KIB`], and the backlog of tasks in flight may not
//! keep growing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::chart::{self, Panel};
use super::report::Report;

/// How much the late median of a memory series may exceed the middle one, as a fraction:
/// flat, within the allocator's noise.
pub const RSS_GROWTH: f64 = 0.03;
/// And in absolute terms on top, in MiB.
pub const RSS_SLACK_MB: f64 = 2.0;
/// How many more open files the late peak may hold than the middle one.
pub const FDS_SLACK: f64 = 16.0;
/// How much the store's bytes per task done may grow from the middle to the end, as a
/// fraction: a store that grows in proportion to the work stays near 0.
pub const STORE_GROWTH: f64 = 0.25;
/// And in absolute terms on top, in KiB per task.
pub const STORE_SLACK_KIB: f64 = 8.0;
/// Fewer samples than this are too few to judge growth (the loss check still runs).
pub const MIN_SAMPLES: usize = 9;

/// One line of `samples.csv`, as the testnet script writes it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Seconds since the soak began.
    pub elapsed_s: u64,
    /// Tasks submitted so far.
    pub submitted: u64,
    /// Tasks done so far (the gateways' counters).
    pub done: u64,
    /// Tasks failed so far.
    pub failed: u64,
    /// The largest resident set of the gateways, KiB.
    pub gateway_rss_kb: u64,
    /// Open file descriptors of the gateways.
    pub gateway_fds: u64,
    /// Bytes the gateways' stores take on disk.
    pub store_bytes: u64,
    /// The largest resident set of the provers, KiB.
    pub prover_rss_kb: u64,
    /// Open file descriptors of all provers.
    pub prover_fds: u64,
    /// Provers killed so far.
    pub kills: u64,
}

/// The CSV header of `samples.csv`.
pub const SAMPLES_HEADER: &str = "elapsed_s,submitted,done,failed,gateway_rss_kb_max,gateway_fds,store_bytes,prover_rss_kb_max,prover_fds,kills";

/// Parses `samples.csv`.
pub fn parse_samples(text: &str) -> Result<Vec<Sample>> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == SAMPLES_HEADER => {}
        _ => bail!("samples.csv: the first line is not `{SAMPLES_HEADER}`"),
    }
    let mut samples = Vec::new();
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let v: Vec<u64> = line
            .split(',')
            .map(|f| f.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("samples.csv line {}: `{line}`", i + 1))?;
        let &[a, b, c, d, e, f, g, h, j, k] = &v[..] else {
            bail!("samples.csv line {}: {} fields, not 10", i + 1, v.len());
        };
        // In the order of SAMPLES_HEADER.
        samples.push(Sample {
            elapsed_s: a,
            submitted: b,
            done: c,
            failed: d,
            gateway_rss_kb: e,
            gateway_fds: f,
            store_bytes: g,
            prover_rss_kb: h,
            prover_fds: j,
            kills: k,
        });
    }
    Ok(samples)
}

/// Parses `submitted.tsv` (milliseconds since the soak began, a tab, the task id) or
/// `completed.tsv` (the same, with the task's number in the soak instead of its id), named
/// `name` in errors.
pub fn parse_timed(name: &str, text: &str) -> Result<Vec<(u64, String)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (ms, id) = line
                .split_once('\t')
                .with_context(|| format!("{name} line {}: no tab", i + 1))?;
            let ms = ms
                .parse()
                .with_context(|| format!("{name} line {}: `{ms}`", i + 1))?;
            Ok((ms, id.trim().to_string()))
        })
        .collect()
}

/// One row of `soak.csv`: a sample with what happened in the interval it closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The sample.
    pub sample: Sample,
    /// Tasks done per minute over the interval.
    pub tasks_per_min: f64,
    /// Median latency of the tasks that ended in the interval, seconds (NaN: none ended).
    pub latency_p50_s: f64,
    /// 95th percentile of the same.
    pub latency_p95_s: f64,
}

impl Row {
    fn backlog(&self) -> f64 {
        let s = &self.sample;
        s.submitted.saturating_sub(s.done + s.failed) as f64
    }
    fn gateway_rss_mb(&self) -> f64 {
        self.sample.gateway_rss_kb as f64 / 1024.0
    }
    fn prover_rss_mb(&self) -> f64 {
        self.sample.prover_rss_kb as f64 / 1024.0
    }
    fn store_mb(&self) -> f64 {
        self.sample.store_bytes as f64 / (1024.0 * 1024.0)
    }
    /// The store's KiB per task done (NaN before the first).
    fn store_kib_per_task(&self) -> f64 {
        match self.sample.done {
            0 => f64::NAN,
            done => self.sample.store_bytes as f64 / 1024.0 / done as f64,
        }
    }
}

/// The `q` quantile (0..=1) of `values`, nearest rank; NaN when empty.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Joins the samples with when each task ended (`ended_ms`: milliseconds since the soak
/// began, and its latency in seconds) into rows.
pub fn rows(samples: &[Sample], ended: &[(u64, f64)]) -> Vec<Row> {
    let mut prev: Option<&Sample> = None;
    samples
        .iter()
        .map(|s| {
            let (from_s, done_before) = prev.map_or((0, 0), |p| (p.elapsed_s, p.done));
            let minutes = (s.elapsed_s.saturating_sub(from_s) as f64 / 60.0).max(1.0 / 60.0);
            let mut latencies: Vec<f64> = ended
                .iter()
                .filter(|(at, _)| *at > from_s * 1000 && *at <= s.elapsed_s * 1000)
                .map(|(_, l)| *l)
                .collect();
            prev = Some(s);
            Row {
                sample: *s,
                tasks_per_min: s.done.saturating_sub(done_before) as f64 / minutes,
                latency_p50_s: quantile(&mut latencies, 0.5),
                latency_p95_s: quantile(&mut latencies, 0.95),
            }
        })
        .collect()
}

/// `soak.csv`'s header.
pub const CSV_HEADER: &str = "elapsed_s,submitted,done,failed,backlog,tasks_per_min,latency_p50_s,latency_p95_s,gateway_rss_mb,gateway_fds,store_mb,store_kib_per_task,prover_rss_mb_max,prover_fds,kills";

/// `soak.csv`: the header and one line per row (an empty field where there is no value).
pub fn csv(rows: &[Row]) -> String {
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:.2}")
        } else {
            String::new()
        }
    };
    let mut out = format!("{CSV_HEADER}\n");
    for r in rows {
        let s = &r.sample;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            s.elapsed_s,
            s.submitted,
            s.done,
            s.failed,
            r.backlog(),
            f(r.tasks_per_min),
            f(r.latency_p50_s),
            f(r.latency_p95_s),
            f(r.gateway_rss_mb()),
            s.gateway_fds,
            f(r.store_mb()),
            f(r.store_kib_per_task()),
            f(r.prover_rss_mb()),
            s.prover_fds,
            s.kills
        );
    }
    out
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    quantile(&mut v, 0.5)
}

/// The least-squares slope of `value` over the rows' elapsed seconds (0 with fewer than two
/// points).
fn slope(rows: &[Row], value: fn(&Row) -> f64) -> f64 {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.sample.elapsed_s as f64, value(r)))
        .filter(|(_, y)| y.is_finite())
        .collect();
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(sxy, sxx), (x, y)| {
        (sxy + (x - mx) * (y - my), sxx + (x - mx) * (x - mx))
    });
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

fn peak(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(f64::NAN, f64::max)
}

/// What the run is judged on, and each verdict's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What was checked.
    pub check: &'static str,
    /// The figures, in words.
    pub detail: String,
    /// Whether it held.
    pub ok: bool,
}

/// Judges the rows: memory flat, open files flat, store growth in proportion to tasks done,
/// the backlog bounded, and no task lost (`lost`: submitted tasks not done and verified).
pub fn judge(rows: &[Row], lost: &[String]) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict {
        check: "no task lost",
        detail: if lost.is_empty() {
            "every submitted task is done with a result that verifies".into()
        } else {
            format!("{} not done and verified: {}", lost.len(), lost.join(", "))
        },
        ok: lost.is_empty(),
    }];
    if rows.len() < MIN_SAMPLES {
        verdicts.push(Verdict {
            check: "growth",
            detail: format!(
                "{} samples are too few to judge (at least {MIN_SAMPLES})",
                rows.len()
            ),
            ok: true,
        });
        return verdicts;
    }
    let third = rows.len() / 3;
    let (mid, late) = (&rows[third..2 * third], &rows[2 * third..]);
    let flat = |check, unit: &str, value: fn(&Row) -> f64| {
        let (m, l) = (
            median(mid.iter().map(value)),
            median(late.iter().map(value)),
        );
        let limit = m * (1.0 + RSS_GROWTH) + RSS_SLACK_MB;
        let per_minute = slope(&rows[third..], value) * 60.0;
        Verdict {
            check,
            detail: format!(
                "median {m:.1} {unit} in the middle third, {l:.1} in the last (limit {limit:.1}); {per_minute:+.2} {unit} a minute over the last two thirds"
            ),
            ok: l <= limit,
        }
    };
    verdicts.push(flat("gateway memory flat", "MiB", Row::gateway_rss_mb));
    verdicts.push(flat("prover memory flat", "MiB", Row::prover_rss_mb));
    let files = |check, value: fn(&Row) -> f64| {
        let (m, l) = (peak(mid.iter().map(value)), peak(late.iter().map(value)));
        Verdict {
            check,
            detail: format!(
                "at most {m} open in the middle third, {l} in the last (limit {})",
                m + FDS_SLACK
            ),
            ok: l <= m + FDS_SLACK,
        }
    };
    verdicts.push(files("gateway open files flat", |r| {
        r.sample.gateway_fds as f64
    }));
    verdicts.push(files("prover open files flat", |r| {
        r.sample.prover_fds as f64
    }));
    let per_task = |r: Option<&Row>| r.map_or(f64::NAN, Row::store_kib_per_task);
    let (m, l) = (per_task(mid.last()), per_task(late.last()));
    let limit = m * (1.0 + STORE_GROWTH) + STORE_SLACK_KIB;
    verdicts.push(Verdict {
        check: "store grows with tasks done",
        detail: format!(
            "{m:.1} KiB per task done at the end of the middle third, {l:.1} at the end (limit {limit:.1}); {:.1} MiB for {} tasks",
            late.last().map_or(0.0, Row::store_mb),
            late.last().map_or(0, |r| r.sample.done)
        ),
        ok: l.is_finite() && l <= limit,
    });
    let (m, l) = (
        peak(mid.iter().map(Row::backlog)),
        peak(late.iter().map(Row::backlog)),
    );
    let rate = median(rows.iter().map(|r| r.tasks_per_min)).max(1.0);
    verdicts.push(Verdict {
        check: "backlog bounded",
        detail: format!(
            "at most {m} tasks in flight in the middle third, {l} in the last (limit {:.0}: two minutes of work more)",
            m + 2.0 * rate
        ),
        ok: l <= m + 2.0 * rate,
    });
    verdicts
}

/// Draws `soak.svg`: memory, open files, store, store per task, throughput and latency
/// over the run.
pub fn draw(path: &Path, rows: &[Row]) -> Result<()> {
    let x: Vec<f64> = rows
        .iter()
        .map(|r| r.sample.elapsed_s as f64 / 60.0)
        .collect();
    let col = |value: fn(&Row) -> f64| rows.iter().map(value).collect::<Vec<f64>>();
    let panel = |title, unit, series| Panel {
        title,
        x_desc: "minutes",
        unit,
        x: x.clone(),
        series,
    };
    let panels = [
        panel(
            "Resident memory",
            "MiB",
            vec![
                ("gateway", col(Row::gateway_rss_mb)),
                ("prover (largest)", col(Row::prover_rss_mb)),
            ],
        ),
        panel(
            "Open files",
            "descriptors",
            vec![
                ("gateway", col(|r| r.sample.gateway_fds as f64)),
                ("provers (all)", col(|r| r.sample.prover_fds as f64)),
            ],
        ),
        panel(
            "Gateway store on disk",
            "MiB",
            vec![("store", col(Row::store_mb))],
        ),
        panel(
            "Store per task done",
            "KiB",
            vec![("store / tasks done", col(Row::store_kib_per_task))],
        ),
        panel(
            "Throughput and backlog",
            "tasks",
            vec![
                ("done per minute", col(|r| r.tasks_per_min)),
                ("in flight", col(Row::backlog)),
            ],
        ),
        panel(
            "Task latency",
            "seconds",
            vec![
                ("median", col(|r| r.latency_p50_s)),
                ("95th percentile", col(|r| r.latency_p95_s)),
            ],
        ),
    ];
    chart::write(path, 2, &panels)
}

/// What `soak-check` wrote and decided.
pub struct Outcome {
    /// `soak.csv` and `soak.svg`.
    pub written: Vec<PathBuf>,
    /// Each check.
    pub verdicts: Vec<Verdict>,
}

/// Whether the result the soak's client saved for its `n`th task verifies offline.
fn client_result_verifies(dir: &Path, params: &Path, n: usize) -> bool {
    std::fs::read(dir.join("results").join(format!("{n}.json")))
        .is_ok_and(|bytes| crate::circuit_workload::check_result_file(params, &bytes, None).is_ok())
}

/// Reads a soak run's directory, writes `soak.csv` and `soak.svg` beside its inputs, and
/// judges it.
pub fn check_dir(dir: &Path) -> Result<Outcome> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let samples = parse_samples(&read("samples.csv")?)?;
    let submitted = parse_timed("submitted.tsv", &read("submitted.tsv")?)?;
    // When the client saw each task end and saved its result (`results/<n>.json`): a
    // gateway with a short retention has pruned the older tasks by the final report.
    let completed: HashMap<String, u64> = match read("completed.tsv") {
        Ok(text) => parse_timed("completed.tsv", &text)?
            .into_iter()
            .map(|(ms, n)| (n, ms))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let params = dir.join("params");
    let report: Report =
        serde_json::from_str(&read("report.json")?).context("report.json is not a report")?;
    let tasks: HashMap<&str, _> = report
        .tasks
        .iter()
        .map(|t| (t.task_id.as_str(), t))
        .collect();
    let mut ended = Vec::new();
    let mut lost = Vec::new();
    for (n, (at_ms, id)) in submitted.iter().enumerate() {
        match tasks.get(id.as_str()) {
            Some(t) if t.status == "done" && t.verified == Some(true) => {
                let latency = t.latency_ms.unwrap_or(0);
                ended.push((at_ms + latency, latency as f64 / 1000.0));
            }
            Some(_) => lost.push(id.clone()),
            // Pruned by the gateway: the client's saved result must verify.
            None => match completed.get(&n.to_string()) {
                Some(&end) if client_result_verifies(dir, &params, n) => {
                    ended.push((end, end.saturating_sub(*at_ms) as f64 / 1000.0));
                }
                _ => lost.push(id.clone()),
            },
        }
    }
    let rows = rows(&samples, &ended);
    let csv_path = dir.join("soak.csv");
    std::fs::write(&csv_path, csv(&rows))
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let svg = dir.join("soak.svg");
    draw(&svg, &rows).with_context(|| format!("drawing {}", svg.display()))?;
    Ok(Outcome {
        written: vec![csv_path, svg],
        verdicts: judge(&rows, &lost),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        minutes: u64,
        rss: impl Fn(u64) -> u64,
        store_per_task: impl Fn(u64) -> u64,
    ) -> Vec<Row> {
        let samples: Vec<Sample> = (0..=minutes)
            .map(|m| Sample {
                elapsed_s: m * 60,
                submitted: m * 12,
                done: (m * 12).saturating_sub(3),
                gateway_rss_kb: rss(m),
                gateway_fds: 40,
                store_bytes: store_per_task(m) * (m * 12).saturating_sub(3),
                prover_rss_kb: 200 << 10,
                prover_fds: 90,
                ..Sample::default()
            })
            .collect();
        rows(&samples, &[(90_000, 4.0), (100_000, 6.0), (110_000, 5.0)])
    }

    fn failed(verdicts: &[Verdict]) -> Vec<&'static str> {
        verdicts.iter().filter(|v| !v.ok).map(|v| v.check).collect()
    }

    #[test]
    fn a_steady_run_passes_and_its_rows_add_up() {
        let rows = run(30, |m| (100 << 10) + (m % 3) * 512, |_| 20_000);
        assert!(
            failed(&judge(&rows, &[])).is_empty(),
            "{:?}",
            judge(&rows, &[])
        );
        assert_eq!(rows[2].tasks_per_min, 12.0);
        assert_eq!(rows[2].latency_p50_s, 5.0);
        assert_eq!(rows[2].latency_p95_s, 6.0);
        assert!(rows[3].latency_p50_s.is_nan());
        let text = csv(&rows);
        assert!(text.starts_with(CSV_HEADER));
        assert_eq!(text.lines().count(), rows.len() + 1);
    }

    #[test]
    fn a_leak_a_bloating_store_and_a_lost_task_fail() {
        let leaking = run(30, |m| (100 << 10) + m * (8 << 10), |_| 20_000);
        assert_eq!(failed(&judge(&leaking, &[])), ["gateway memory flat"]);
        let bloating = run(30, |_| 100 << 10, |m| 20_000 + m * 5_000);
        assert_eq!(
            failed(&judge(&bloating, &[])),
            ["store grows with tasks done"]
        );
        let steady = run(30, |_| 100 << 10, |_| 20_000);
        assert_eq!(failed(&judge(&steady, &["t".into()])), ["no task lost"]);
    }

    #[test]
    fn a_short_run_is_not_judged_on_growth_and_bad_files_are_refused() {
        let short = run(4, |m| m << 20, |_| 1);
        assert!(failed(&judge(&short, &[])).is_empty());
        assert!(parse_samples("elapsed_s\n1\n").is_err());
        assert!(parse_samples(&format!("{SAMPLES_HEADER}\n1,2,3\n")).is_err());
        assert!(parse_timed("submitted.tsv", "12 abc\n").is_err());
        let ok = parse_samples(&format!(
            "{SAMPLES_HEADER}\n60,12,9,0,1024,40,5000,2048,90,1\n"
        ))
        .expect("a valid line");
        assert_eq!(ok[0].kills, 1);
    }
}
