//! The operator's dashboard: one page (`/`), served by the node's HTTP endpoint with
//! everything it needs inline (no build step, nothing fetched from elsewhere), and the JSON
//! it polls every second (`/dashboard.json`), read from the gateways' stores and the
//! swarms' counters at most once per [`REFRESH`] however many pages are open ([`Cached`]);
//! the reads are bounded (the latest tasks by the store's index, and the tasks in flight),
//! never every task.
//!
//! Per Supernet: connected peers; the provers the gateway has accounts for (stake, earnings,
//! record, last winning price); the latest batches (commits, reveals, awards and their
//! prices); tasks, those in flight first, with their progress; and, over the last hour,
//! every winning price, every job's proving latency (award to verified proof) and the jobs
//! proven per minute. A node that is only a prover shows its Supernets and peers.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::metrics::NodeMetrics;
use crate::model::{TaskEventKind, TaskRecord, TaskStatus};
use crate::store::{Store, StoreError};
use lagrange_protocol::{JobId, UnixMillis};

/// The page.
pub const PAGE: &str = include_str!("dashboard.html");

/// Tasks whose histories feed the batches and charts, most recent first.
const RECENT_TASKS: usize = 64;
/// Tasks listed.
const LISTED_TASKS: usize = 20;
/// Batches listed.
const LISTED_BATCHES: usize = 12;
/// The charts' window.
const WINDOW_MS: u64 = 3_600_000;

/// How long one snapshot is served before it is read again: the page's polling interval.
pub const REFRESH: Duration = Duration::from_secs(1);

/// A value computed at most once per period, whoever asks: concurrent askers wait for the
/// one computation and share it.
#[derive(Debug)]
pub struct Cached<T> {
    period: Duration,
    held: tokio::sync::Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Cached<T> {
    /// Nothing held yet; a value is kept `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// The value held, if younger than the period; else `compute`'s, held from now.
    pub async fn get<F, Fut>(&self, compute: F) -> Arc<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut held = self.held.lock().await;
        if let Some((at, value)) = &*held
            && at.elapsed() < self.period
        {
            return value.clone();
        }
        let value = Arc::new(compute().await);
        *held = Some((Instant::now(), value.clone()));
        value
    }
}

/// What the page shows.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// The node's clock.
    pub now: UnixMillis,
    /// Each Supernet the node is in.
    pub supernets: Vec<SupernetView>,
}

/// One Supernet.
#[derive(Debug, Serialize)]
pub struct SupernetView {
    /// Its id.
    pub id: String,
    /// Connected peers.
    pub peers: i64,
    /// Whether this node is its gateway (and the rest is filled in).
    pub gateway: bool,
    /// Provers with an account.
    pub provers: Vec<ProverView>,
    /// The latest batches.
    pub batches: Vec<BatchView>,
    /// Tasks, in flight first, then the latest.
    pub tasks: Vec<TaskView>,
    /// Winning prices over the last hour: (time, price).
    pub prices: Vec<(UnixMillis, u64)>,
    /// Proving latencies over the last hour: (time proven, seconds from award).
    pub latency: Vec<(UnixMillis, f64)>,
    /// Jobs proven per minute over the last hour: (minute start, jobs).
    pub throughput: Vec<(UnixMillis, u64)>,
}

/// A prover, as the gateway knows it.
#[derive(Debug, Serialize)]
pub struct ProverView {
    /// Its peer id.
    pub peer_id: String,
    /// Stake left.
    pub stake: u64,
    /// Fee units earned.
    pub earned: u64,
    /// Jobs paid for.
    pub jobs: u64,
    /// Times slashed for a bad or late proof.
    pub failures: u64,
    /// Times penalized for not revealing.
    pub non_reveals: u64,
    /// Its last winning price, if it won any of the recent tasks' jobs.
    pub last_price: Option<u64>,
}

/// A batch.
#[derive(Debug, Serialize)]
pub struct BatchView {
    /// Its id (short).
    pub batch: String,
    /// When its auction closed.
    pub at: UnixMillis,
    /// Commits in its closed set.
    pub commits: u32,
    /// Valid reveals.
    pub reveals: u32,
    /// Committers that did not reveal.
    pub non_revealers: u32,
    /// Winning prices of its jobs (of the recent tasks).
    pub awards: Vec<u64>,
}

/// A task.
#[derive(Debug, Serialize)]
pub struct TaskView {
    /// Its id (short).
    pub id: String,
    /// proving, done or failed.
    pub status: &'static str,
    /// Jobs.
    pub jobs: u32,
    /// Jobs proven.
    pub proven: u32,
    /// Fee units paid so far.
    pub fees: u64,
    /// When it was submitted.
    pub created_at: UnixMillis,
    /// Why it failed.
    pub error: String,
}

fn short(text: String) -> String {
    text.chars().take(8).collect()
}

/// Reads what the page shows (blocking: store reads).
pub fn snapshot(metrics: &NodeMetrics, now: UnixMillis) -> Result<Snapshot, StoreError> {
    let peers: BTreeMap<String, i64> = metrics
        .readiness
        .nets()
        .into_iter()
        .map(|(id, stats)| (id.to_string(), stats.peers()))
        .collect();
    let gateways = metrics.gateway_stores();
    let mut supernets = Vec::new();
    for (id, store) in &gateways {
        let mut view = gateway_view(store, now)?;
        view.id = id.to_string();
        view.peers = peers.get(id.as_str()).copied().unwrap_or(0);
        supernets.push(view);
    }
    for (id, peers) in peers {
        if !supernets.iter().any(|s| s.id == id) {
            supernets.push(SupernetView {
                id,
                peers,
                gateway: false,
                provers: Vec::new(),
                batches: Vec::new(),
                tasks: Vec::new(),
                prices: Vec::new(),
                latency: Vec::new(),
                throughput: Vec::new(),
            });
        }
    }
    Ok(Snapshot { now, supernets })
}

fn status(task: &TaskRecord) -> &'static str {
    match task.status {
        TaskStatus::Proving => "proving",
        TaskStatus::Done => "done",
        TaskStatus::Failed { .. } => "failed",
    }
}

fn gateway_view(store: &Store, now: UnixMillis) -> Result<SupernetView, StoreError> {
    // The latest tasks, and those in flight; never every task.
    let latest = store.tasks_newest_first(None, RECENT_TASKS)?;
    let mut in_flight = store.unfinished_tasks()?;
    in_flight.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    in_flight.truncate(LISTED_TASKS);
    let mut tasks = in_flight;
    for t in &latest {
        if t.status.is_final() && tasks.len() < LISTED_TASKS {
            tasks.push(t.clone());
        }
    }
    let since = now.saturating_sub(WINDOW_MS);
    let mut batches: BTreeMap<String, BatchView> = BTreeMap::new();
    let mut last_price: BTreeMap<String, (UnixMillis, u64)> = BTreeMap::new();
    let mut awarded_at: BTreeMap<JobId, UnixMillis> = BTreeMap::new();
    let mut job_batch: BTreeMap<JobId, String> = BTreeMap::new();
    let mut prices = Vec::new();
    let mut latency = Vec::new();
    let mut per_minute: BTreeMap<UnixMillis, u64> = BTreeMap::new();
    for task in &latest {
        for event in store.events(&task.id, 0)? {
            match event.kind {
                TaskEventKind::Offered { job, batch, .. } => {
                    job_batch.insert(job, short(batch.to_string()));
                }
                TaskEventKind::AuctionClosed {
                    batch,
                    commits,
                    reveals,
                    non_revealers,
                } => {
                    batches
                        .entry(short(batch.to_string()))
                        .or_insert(BatchView {
                            batch: short(batch.to_string()),
                            at: event.at,
                            commits,
                            reveals,
                            non_revealers,
                            awards: Vec::new(),
                        });
                }
                TaskEventKind::Awarded { job, prover, price } => {
                    awarded_at.insert(job, event.at);
                    if let Some(b) = job_batch.get(&job).and_then(|b| batches.get_mut(b)) {
                        b.awards.push(price);
                    }
                    let peer = prover.peer_id().map(|p| p.to_string()).unwrap_or_default();
                    let entry = last_price.entry(peer).or_insert((0, price));
                    if event.at >= entry.0 {
                        *entry = (event.at, price);
                    }
                    if event.at >= since {
                        prices.push((event.at, price));
                    }
                }
                TaskEventKind::Proven { job, .. } if event.at >= since => {
                    if let Some(at) = awarded_at.get(&job) {
                        latency.push((event.at, event.at.saturating_sub(*at) as f64 / 1000.0));
                    }
                    *per_minute.entry(event.at / 60_000 * 60_000).or_default() += 1;
                }
                _ => {}
            }
        }
    }
    prices.sort_unstable();
    latency.sort_by_key(|(at, _)| *at);
    let mut batches: Vec<BatchView> = batches.into_values().collect();
    batches.sort_by_key(|b| std::cmp::Reverse(b.at));
    batches.truncate(LISTED_BATCHES);
    let provers = store
        .accounts()?
        .into_iter()
        .map(|(key, a)| {
            let peer_id = key.peer_id().map(|p| p.to_string()).unwrap_or_default();
            ProverView {
                last_price: last_price.get(&peer_id).map(|(_, p)| *p),
                peer_id,
                stake: a.stake,
                earned: a.balance,
                jobs: a.jobs_paid,
                failures: a.failures,
                non_reveals: a.non_reveals,
            }
        })
        .collect();
    let tasks = tasks
        .iter()
        .map(|t| TaskView {
            id: short(t.id.to_string()),
            status: status(t),
            jobs: t.jobs,
            proven: t.verified,
            fees: t.fees,
            created_at: t.created_at,
            error: match &t.status {
                TaskStatus::Failed { reason } => reason.clone(),
                _ => String::new(),
            },
        })
        .collect();
    Ok(SupernetView {
        id: String::new(),
        peers: 0,
        gateway: true,
        provers,
        batches,
        tasks,
        prices,
        latency,
        throughput: per_minute.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_viewers_share_one_snapshot_a_period() {
        let cache = Arc::new(Cached::new(Duration::from_secs(3600)));
        let computed = Arc::new(AtomicUsize::new(0));
        let viewers: Vec<_> = (0..16)
            .map(|_| {
                let (cache, computed) = (cache.clone(), computed.clone());
                tokio::spawn(async move {
                    *cache
                        .get(|| async {
                            computed.fetch_add(1, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            7u32
                        })
                        .await
                })
            })
            .collect();
        for v in viewers {
            assert_eq!(v.await.unwrap(), 7);
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        // Past the period it is read again.
        let fresh = Cached::new(Duration::ZERO);
        assert_eq!(*fresh.get(|| async { 1 }).await, 1);
        assert_eq!(*fresh.get(|| async { 2 }).await, 2);
    }
}
