//! `lagrange-node report`: an audit of one or more gateways over gRPC, for operators and the
//! testnet. It waits until every task has ended, replays each task's history, checks each
//! result offline, cross-checks the ledger against the histories, and prints a summary.
//!
//! A run passes when every task is done with a result that verifies, every job of a done task
//! was paid exactly once, the ledger's payments equal the histories' and each task's fees,
//! and no intruder (a peer that should have been kept out) won or was paid anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use lagrange_protocol::PublicKey;

use crate::api::pb::{self, gateway_client::GatewayClient};
use crate::circuit_workload::check_result_file;

/// What to audit.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The gateways' gRPC addresses.
    pub gateways: Vec<String>,
    /// Directory with verifying keys, to check each result offline.
    pub params_dir: Option<PathBuf>,
    /// How long to wait for unfinished tasks (and for gateways that are restarting).
    pub wait: Duration,
    /// Tasks expected in all (wait until at least this many are listed).
    pub expect_tasks: usize,
    /// Peer ids that must never win or be paid.
    pub intruders: Vec<String>,
    /// Peer ids of honest provers, which must never be slashed or penalized.
    pub honest: Vec<String>,
}

/// One task, as its history tells it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskLine {
    /// The task.
    pub task_id: String,
    /// Its Supernet.
    pub supernet: String,
    /// done, failed or proving.
    pub status: String,
    /// Why it failed.
    pub error: String,
    /// Jobs.
    pub jobs: u32,
    /// Times its jobs were offered in a batch.
    pub offers: u32,
    /// Times its jobs were awarded.
    pub awards: u32,
    /// Jobs that went back to auction after a failed assignment.
    pub reauctions: u32,
    /// Provers slashed on its jobs.
    pub slashes: u32,
    /// Proofs paid.
    pub paid_proofs: u32,
    /// Prices paid, one per paid proof.
    pub prices: Vec<u64>,
    /// Fees the gateway charged.
    pub fees: u64,
    /// Submission to result, for done tasks.
    pub latency_ms: Option<u64>,
    /// Whether the result verified offline (`None`: not checked).
    pub verified: Option<bool>,
}

/// One prover's ledger entry at one gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountLine {
    /// The Supernet.
    pub supernet: String,
    /// The prover's peer id.
    pub peer_id: String,
    /// Fee units earned.
    pub balance: u64,
    /// Jobs paid.
    pub jobs_paid: u64,
    /// Stake slashed.
    pub slashed: u64,
    /// Failures.
    pub failures: u64,
    /// Non-reveal penalties.
    pub non_reveals: u64,
}

/// What one gateway pruned after its retention period: tasks no longer listed, whose
/// payments the ledger still holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrunedLine {
    /// The Supernet.
    pub supernet: String,
    /// Finished tasks pruned.
    pub tasks: u64,
    /// Of them, done.
    pub done: u64,
    /// Their paid jobs.
    pub jobs_paid: u64,
    /// What those were paid.
    pub paid: u64,
}

/// The audit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Every task the gateways still hold.
    pub tasks: Vec<TaskLine>,
    /// Every ledger account.
    pub accounts: Vec<AccountLine>,
    /// Tasks the gateways pruned after their retention period, per Supernet.
    #[serde(default)]
    pub pruned: Vec<PrunedLine>,
    /// What failed; empty when the run passes.
    pub violations: Vec<String>,
}

async fn connect(addr: &str) -> Result<GatewayClient<Channel>> {
    let url = super::client::endpoint(addr);
    GatewayClient::connect(url.clone())
        .await
        .with_context(|| format!("connecting to {url}"))
}

fn status_name(s: i32) -> &'static str {
    match pb::TaskStatus::try_from(s) {
        Ok(pb::TaskStatus::Done) => "done",
        Ok(pb::TaskStatus::Failed) => "failed",
        Ok(pb::TaskStatus::Proving) => "proving",
        _ => "unknown",
    }
}

/// A gateway's tasks, and how many it has pruned.
async fn list(addr: &str) -> Result<(Vec<pb::TaskSummary>, u64)> {
    let mut client = connect(addr).await?;
    let mut tasks = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_tasks(pb::ListTasksRequest {
                limit: 1000,
                page_token,
            })
            .await
            .map_err(|s| anyhow::anyhow!("{addr}: {}: {}", s.code(), s.message()))?
            .into_inner();
        tasks.extend(page.tasks);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok((tasks, pruned_count(&mut client, addr).await?))
}

/// How many tasks a gateway has pruned after its retention period.
async fn pruned_count(client: &mut GatewayClient<Channel>, addr: &str) -> Result<u64> {
    let pruned = client
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .map_err(|s| anyhow::anyhow!("{addr}: {}: {}", s.code(), s.message()))?
        .into_inner()
        .pruned
        .iter()
        .map(|p| p.tasks)
        .sum();
    Ok(pruned)
}

/// A task's history so far.
async fn events(client: &mut GatewayClient<Channel>, task: &str) -> Result<Vec<pb::TaskEvent>> {
    let mut stream = client
        .watch_task(pb::WatchTaskRequest {
            task_id: task.into(),
            from_seq: 0,
            snapshot: true,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    let mut out = Vec::new();
    while let Some(e) = stream
        .message()
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
    {
        out.push(e);
    }
    Ok(out)
}

/// Polls the gateways until every listed task has ended and at least `expect` are listed
/// or pruned, riding out gateways that are down for a while. Returns the last listing of
/// each.
async fn wait_final(opts: &ReportOptions) -> Vec<(String, Vec<pb::TaskSummary>)> {
    let deadline = tokio::time::Instant::now() + opts.wait;
    let mut last: BTreeMap<String, Vec<pb::TaskSummary>> = BTreeMap::new();
    let mut pruned: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        for gw in &opts.gateways {
            if let Ok((tasks, gone)) = list(gw).await {
                last.insert(gw.clone(), tasks);
                pruned.insert(gw.clone(), gone);
            }
        }
        let listed =
            last.values().map(Vec::len).sum::<usize>() + pruned.values().sum::<u64>() as usize;
        let all_final = last.len() == opts.gateways.len()
            && last
                .values()
                .flatten()
                .all(|t| status_name(t.status) != "proving");
        if (all_final && listed >= opts.expect_tasks) || tokio::time::Instant::now() >= deadline {
            return last.into_iter().collect();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn peer_of_key(hex_key: &str) -> Option<String> {
    PublicKey::from_str(hex_key)
        .ok()?
        .peer_id()
        .ok()
        .map(|p| p.to_string())
}

/// Runs the audit. A gateway that prunes while it runs (a task listed, then pruned before
/// its result is read, or its payments counted twice, in its history and in the pruned
/// totals) makes a reading inconsistent: the audit is then taken again, until the gateways'
/// pruned totals are the same before and after it.
pub async fn collect(opts: &ReportOptions) -> Result<Report> {
    const ATTEMPTS: usize = 30;
    for attempt in 1.. {
        let before = pruned_tasks(opts).await;
        let report = collect_once(opts).await;
        if pruned_tasks(opts).await == before || attempt == ATTEMPTS {
            return report;
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Tasks each gateway has pruned so far (`None` for one that did not answer).
async fn pruned_tasks(opts: &ReportOptions) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for gw in &opts.gateways {
        let count = match connect(gw).await {
            Ok(mut client) => pruned_count(&mut client, gw).await.ok(),
            Err(_) => None,
        };
        out.push(count);
    }
    out
}

async fn collect_once(opts: &ReportOptions) -> Result<Report> {
    let listings = wait_final(opts).await;
    let intruders: BTreeSet<&str> = opts.intruders.iter().map(String::as_str).collect();
    let mut report = Report {
        tasks: Vec::new(),
        accounts: Vec::new(),
        pruned: Vec::new(),
        violations: Vec::new(),
    };
    for gw in &opts.gateways {
        if !listings.iter().any(|(g, _)| g == gw) {
            report
                .violations
                .push(format!("gateway {gw} never answered"));
        }
    }
    let listed: usize = listings.iter().map(|(_, t)| t.len()).sum();
    let pruned_tasks = pruned_tasks(opts).await.into_iter().flatten().sum::<u64>() as usize;
    if listed + pruned_tasks < opts.expect_tasks {
        report.violations.push(format!(
            "{listed} tasks listed and {pruned_tasks} pruned, {} expected",
            opts.expect_tasks
        ));
    }
    for (gw, tasks) in &listings {
        let mut client = connect(gw).await?;
        // Payments per Supernet, from the histories, to check the ledger against.
        let mut paid_jobs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for t in tasks {
            let history = events(&mut client, &t.task_id).await?;
            let line = task_line(t, &history, &intruders, &mut report.violations);
            let entry = paid_jobs.entry(t.supernet.clone()).or_default();
            entry.0 += u64::from(line.paid_proofs);
            entry.1 += line.prices.iter().sum::<u64>();
            let mut line = line;
            if line.status == "done"
                && let Some(dir) = &opts.params_dir
            {
                let result = client
                    .get_result(pb::GetResultRequest {
                        task_id: t.task_id.clone(),
                    })
                    .await
                    .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
                    .into_inner();
                let dir = dir.clone();
                let checked = tokio::task::spawn_blocking(move || {
                    check_result_file(&dir, &result.result, None)
                })
                .await?;
                if let Err(e) = &checked {
                    report
                        .violations
                        .push(format!("task {}: result does not verify: {e}", t.task_id));
                }
                line.verified = Some(checked.is_ok());
            }
            report.tasks.push(line);
        }
        let pb::ListAccountsResponse { accounts, pruned } = client
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .map_err(|s| anyhow::anyhow!("{gw}: {}: {}", s.code(), s.message()))?
            .into_inner();
        // Pruned tasks' payments stay in the ledger: count them with the histories.
        for p in pruned {
            let entry = paid_jobs.entry(p.supernet.clone()).or_default();
            entry.0 += p.jobs_paid;
            entry.1 += p.paid;
            if p.tasks > p.tasks_done {
                report.violations.push(format!(
                    "supernet {}: {} of the tasks pruned after the retention period had failed",
                    p.supernet,
                    p.tasks - p.tasks_done
                ));
            }
            if p.tasks > 0 {
                report.pruned.push(PrunedLine {
                    supernet: p.supernet,
                    tasks: p.tasks,
                    done: p.tasks_done,
                    jobs_paid: p.jobs_paid,
                    paid: p.paid,
                });
            }
        }
        let mut ledger: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for a in accounts {
            let e = ledger.entry(a.supernet.clone()).or_default();
            e.0 += a.jobs_paid;
            e.1 += a.balance;
            if opts.honest.contains(&a.peer_id)
                && (a.slashed > 0 || a.failures > 0 || a.non_reveals > 0)
            {
                report.violations.push(format!(
                    "honest prover {} was penalized in {}: slashed {}, failures {}, non-reveals {}",
                    a.peer_id, a.supernet, a.slashed, a.failures, a.non_reveals
                ));
            }
            if intruders.contains(a.peer_id.as_str()) && (a.jobs_paid > 0 || a.balance > 0) {
                report.violations.push(format!(
                    "intruder {} was paid {} for {} jobs",
                    a.peer_id, a.balance, a.jobs_paid
                ));
            }
            report.accounts.push(AccountLine {
                supernet: a.supernet,
                peer_id: a.peer_id,
                balance: a.balance,
                jobs_paid: a.jobs_paid,
                slashed: a.slashed,
                failures: a.failures,
                non_reveals: a.non_reveals,
            });
        }
        for (supernet, (jobs, amount)) in &ledger {
            let (h_jobs, h_amount) = paid_jobs.get(supernet).copied().unwrap_or_default();
            if (*jobs, *amount) != (h_jobs, h_amount) {
                report.violations.push(format!(
                    "supernet {supernet}: the ledger paid {amount} for {jobs} jobs, the task histories (with the pruned tasks' totals) {h_amount} for {h_jobs}"
                ));
            }
        }
    }
    Ok(report)
}

/// Reads one task's history into a line, noting what is wrong.
fn task_line(
    t: &pb::TaskSummary,
    history: &[pb::TaskEvent],
    intruders: &BTreeSet<&str>,
    violations: &mut Vec<String>,
) -> TaskLine {
    let mut line = TaskLine {
        task_id: t.task_id.clone(),
        supernet: t.supernet.clone(),
        status: status_name(t.status).to_string(),
        error: t.error.clone(),
        jobs: t.jobs,
        offers: 0,
        awards: 0,
        reauctions: 0,
        slashes: 0,
        paid_proofs: 0,
        prices: Vec::new(),
        fees: t.fees,
        latency_ms: None,
        verified: None,
    };
    let mut paid_per_job: BTreeMap<&str, u32> = BTreeMap::new();
    let mut submitted = None;
    for e in history {
        match e.kind.as_str() {
            "submitted" => submitted = Some(e.at_ms),
            "offered" => line.offers += 1,
            "awarded" => line.awards += 1,
            "job_failed" => {
                line.slashes += 1;
                line.reauctions += 1;
            }
            "proven" => {
                line.paid_proofs += 1;
                line.prices.push(e.price);
                *paid_per_job.entry(e.job_id.as_str()).or_default() += 1;
            }
            "completed" => line.latency_ms = submitted.map(|s| e.at_ms.saturating_sub(s)),
            _ => {}
        }
        if matches!(e.kind.as_str(), "awarded" | "proven")
            && peer_of_key(&e.prover).is_some_and(|p| intruders.contains(p.as_str()))
        {
            violations.push(format!(
                "task {}: intruder {} {} job {}",
                t.task_id, e.prover, e.kind, e.job_id
            ));
        }
    }
    let id = &t.task_id;
    match line.status.as_str() {
        "done" => {
            if paid_per_job.len() != t.jobs as usize {
                violations.push(format!(
                    "task {id}: done with {} of {} jobs paid",
                    paid_per_job.len(),
                    t.jobs
                ));
            }
        }
        // The client's fee cap was below every prover's price: the client's doing, not a
        // loss by the network.
        "failed" if t.error.starts_with(crate::gateway::core::FEE_CAP_TOO_LOW) => {}
        "failed" => violations.push(format!("task {id} failed: {}", t.error)),
        other => violations.push(format!("task {id} is {other}")),
    }
    for (job, n) in &paid_per_job {
        if *n > 1 {
            violations.push(format!("job {job} was paid {n} times"));
        }
    }
    let charged: u64 = line.prices.iter().sum();
    if charged != t.fees {
        violations.push(format!(
            "task {id}: fees {} differ from the {charged} paid for its proofs",
            t.fees
        ));
    }
    // A failed task is not billed; any other is billed what its proofs were paid.
    let owed = if line.status == "failed" { 0 } else { t.fees };
    if t.billed != owed {
        violations.push(format!(
            "task {id}: billed {} where {owed} is owed ({})",
            t.billed, line.status
        ));
    }
    line
}

/// Provers (public keys, hex) holding an assigned job right now, from the histories of
/// unfinished tasks.
pub async fn holders(gateway: &str) -> Result<Vec<String>> {
    let mut client = connect(gateway).await?;
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    for t in list(gateway).await?.0 {
        if status_name(t.status) != "proving" {
            continue;
        }
        for e in events(&mut client, &t.task_id).await? {
            match e.kind.as_str() {
                "awarded" => {
                    held.insert(e.job_id, e.prover);
                }
                "proven" | "job_failed" => {
                    held.remove(&e.job_id);
                }
                _ => {}
            }
        }
    }
    let provers: BTreeSet<String> = held.into_values().collect();
    Ok(provers.into_iter().collect())
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

impl Report {
    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The summary table, one row per Supernet and a total, then the checks.
    pub fn table(&self) -> String {
        let mut rows: BTreeMap<String, Vec<&TaskLine>> = BTreeMap::new();
        for t in &self.tasks {
            rows.entry(t.supernet.clone()).or_default().push(t);
        }
        let all: Vec<&TaskLine> = self.tasks.iter().collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<14} {:>5} {:>5} {:>6} {:>5} {:>6} {:>11} {:>7} {:>8} {:>10} {:>8} {:>8}",
            "supernet",
            "tasks",
            "done",
            "failed",
            "jobs",
            "awards",
            "re-auctions",
            "slashes",
            "paid",
            "price/job",
            "p50",
            "p95"
        );
        let mut render = |name: &str, tasks: &[&TaskLine]| {
            let done = tasks.iter().filter(|t| t.status == "done").count();
            let failed = tasks.iter().filter(|t| t.status != "done").count();
            let sum = |f: fn(&TaskLine) -> u32| tasks.iter().map(|t| f(t)).sum::<u32>();
            let mut prices: Vec<u64> = tasks.iter().flat_map(|t| t.prices.clone()).collect();
            prices.sort_unstable();
            let mut latencies: Vec<u64> = tasks.iter().filter_map(|t| t.latency_ms).collect();
            latencies.sort_unstable();
            let price = match (prices.first(), prices.last()) {
                (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
                (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "{:<14} {:>5} {:>5} {:>6} {:>5} {:>6} {:>11} {:>7} {:>8} {:>10} {:>8} {:>8}",
                name,
                tasks.len(),
                done,
                failed,
                sum(|t| t.jobs),
                sum(|t| t.awards),
                sum(|t| t.reauctions),
                sum(|t| t.slashes),
                prices.iter().sum::<u64>(),
                price,
                secs(percentile(&latencies, 50.0)),
                secs(percentile(&latencies, 95.0)),
            );
        };
        for (name, tasks) in &rows {
            render(name, tasks);
        }
        if rows.len() > 1 {
            render("total", &all);
        }
        for p in &self.pruned {
            let _ = writeln!(
                out,
                "{}: {} tasks pruned after the retention period ({} done), {} jobs paid {} (in the ledger check)",
                p.supernet, p.tasks, p.done, p.jobs_paid, p.paid
            );
        }
        let paid_twice = self
            .violations
            .iter()
            .filter(|v| v.contains("times"))
            .count();
        let verified = self
            .tasks
            .iter()
            .filter(|t| t.verified == Some(true))
            .count();
        let priced_out = |t: &&TaskLine| {
            t.status == "failed" && t.error.starts_with(crate::gateway::core::FEE_CAP_TOO_LOW)
        };
        let lost: u32 = self
            .tasks
            .iter()
            .filter(|t| t.status != "done" && !priced_out(t))
            .map(|t| t.jobs)
            .sum();
        let capped = self.tasks.iter().filter(priced_out).count();
        let _ = writeln!(
            out,
            "results verified offline: {verified}/{}; jobs lost: {lost}; jobs paid twice: {paid_twice}; non-reveal penalties: {}; tasks whose fee cap no prover met: {capped}",
            self.tasks.len(),
            self.accounts.iter().map(|a| a.non_reveals).sum::<u64>()
        );
        if self.violations.is_empty() {
            let _ = writeln!(out, "checks: PASS");
        } else {
            let _ = writeln!(out, "checks: FAIL");
            for v in &self.violations {
                let _ = writeln!(out, "  - {v}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 50.0), Some(10));
        assert_eq!(percentile(&v, 95.0), Some(19));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn event(kind: &str, job: &str, price: u64, at: u64) -> pb::TaskEvent {
        pb::TaskEvent {
            kind: kind.into(),
            job_id: job.into(),
            price,
            at_ms: at,
            ..Default::default()
        }
    }

    #[test]
    fn a_job_paid_twice_or_fees_out_of_step_are_violations() {
        let t = pb::TaskSummary {
            task_id: "t".into(),
            supernet: "s".into(),
            status: pb::TaskStatus::Done.into(),
            jobs: 1,
            fees: 10,
            billed: 10,
            ..Default::default()
        };
        let history = vec![
            event("submitted", "", 0, 100),
            event("offered", "t:0", 0, 110),
            event("awarded", "t:0", 10, 120),
            event("proven", "t:0", 10, 130),
            event("proven", "t:0", 10, 140),
            event("completed", "", 0, 150),
        ];
        let mut violations = Vec::new();
        let line = task_line(&t, &history, &BTreeSet::new(), &mut violations);
        assert_eq!(line.latency_ms, Some(50));
        assert!(violations.iter().any(|v| v.contains("paid 2 times")));
        assert!(violations.iter().any(|v| v.contains("fees 10 differ")));

        let honest = &history[..4];
        let mut violations = Vec::new();
        task_line(&t, honest, &BTreeSet::new(), &mut violations);
        assert!(violations.is_empty(), "{violations:?}");
    }

    #[test]
    fn a_task_no_prover_would_take_for_its_fee_cap_is_not_a_loss() {
        let failed = |error: &str| pb::TaskSummary {
            task_id: "t".into(),
            supernet: "s".into(),
            status: pb::TaskStatus::Failed.into(),
            jobs: 3,
            error: error.into(),
            ..Default::default()
        };
        let history = vec![event("submitted", "", 0, 100)];
        let capped = format!(
            "{} of 5 per job (max_fee_per_job): deadline passed with 0 of 3 jobs proven",
            crate::gateway::core::FEE_CAP_TOO_LOW
        );
        let mut violations = Vec::new();
        task_line(
            &failed(&capped),
            &history,
            &BTreeSet::new(),
            &mut violations,
        );
        assert!(violations.is_empty(), "{violations:?}");
        task_line(
            &failed("deadline passed with 0 of 3 jobs proven"),
            &history,
            &BTreeSet::new(),
            &mut violations,
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
    }
}
