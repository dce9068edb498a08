//! What a node tells its operator's Prometheus: one registry per process, with a sub-registry
//! per Supernet (label `supernet`) for the network, the gateway and the prover.
//!
//! The roles hold cheap handles ([`GatewayMetrics`], [`ProverMetrics`]) and bump them where
//! things happen; values that live in the store (jobs per state, its size on disk) and in
//! the swarm (connected peers) are read at scrape time by collectors. Every metric is
//! prefixed `lagrange_`. `docs/operator-guide.md` lists them with what to graph.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use lagrange_protocol::{JobCategory, SupernetId};

use crate::net::NetStats;
use crate::store::Store;

/// A label set with one `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// Why.
    pub reason: &'static str,
}

/// A label set with one `category`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Category {
    /// small, medium or large.
    pub category: &'static str,
}

/// A label set with one `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// What happened.
    pub outcome: &'static str,
}

/// Why a job went back to auction, or a prover was slashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// The proving deadline passed without a proof.
    Deadline,
    /// The proof came after the deadline.
    Late,
    /// The proof did not verify.
    Invalid,
}

impl FailReason {
    fn label(self) -> Reason {
        Reason {
            reason: match self {
                FailReason::Deadline => "deadline",
                FailReason::Late => "late",
                FailReason::Invalid => "invalid",
            },
        }
    }
}

fn seconds_buckets() -> Histogram {
    // 5 ms .. ~80 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

fn category_label(category: JobCategory) -> Category {
    Category {
        category: category.as_str(),
    }
}

/// The gateway's counters and histograms in one Supernet.
#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    batches: Counter,
    commits: Counter,
    reveals: Counter,
    bids_refused: Counter,
    awards: Counter,
    unawarded: Counter,
    non_reveals: Counter,
    equivocations: Counter,
    pruned_tasks: Counter,
    pruned_batches: Counter,
    reauctions: Family<Reason, Counter>,
    slashes: Family<Reason, Counter>,
    slashed_amount: Counter,
    proofs: Family<Outcome, Counter>,
    paid: Counter,
    tasks: Family<Outcome, Counter>,
    task_seconds: Histogram,
    job_seconds: Family<Category, Histogram>,
    verify_seconds: Histogram,
    verify_batch: Histogram,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        let m = Self::empty();
        // Every label value exists from the start, so a graph shows 0 rather than nothing.
        for reason in [FailReason::Deadline, FailReason::Late, FailReason::Invalid] {
            let _ = m.reauctions.get_or_create(&reason.label());
            let _ = m.slashes.get_or_create(&reason.label());
        }
        for outcome in ["valid", "invalid"] {
            let _ = m.proofs.get_or_create(&Outcome { outcome });
        }
        for outcome in ["submitted", "done", "failed"] {
            let _ = m.tasks.get_or_create(&Outcome { outcome });
        }
        m
    }
}

impl GatewayMetrics {
    fn empty() -> Self {
        Self {
            batches: Counter::default(),
            commits: Counter::default(),
            reveals: Counter::default(),
            bids_refused: Counter::default(),
            awards: Counter::default(),
            unawarded: Counter::default(),
            non_reveals: Counter::default(),
            equivocations: Counter::default(),
            pruned_tasks: Counter::default(),
            pruned_batches: Counter::default(),
            reauctions: Family::default(),
            slashes: Family::default(),
            slashed_amount: Counter::default(),
            proofs: Family::default(),
            paid: Counter::default(),
            tasks: Family::default(),
            task_seconds: seconds_buckets(),
            job_seconds: Family::new_with_constructor(seconds_buckets),
            verify_seconds: seconds_buckets(),
            verify_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register("gateway_batches", "Batches announced", self.batches.clone());
        r.register(
            "gateway_commits",
            "Bid commits accepted",
            self.commits.clone(),
        );
        r.register(
            "gateway_reveals",
            "Bid reveals accepted",
            self.reveals.clone(),
        );
        r.register(
            "gateway_bids_refused",
            "Commits and reveals refused (late, unknown batch, mismatched)",
            self.bids_refused.clone(),
        );
        r.register("gateway_awards", "Jobs awarded", self.awards.clone());
        r.register(
            "gateway_unawarded",
            "Jobs nobody won in their batch (offered again at a raised reserve)",
            self.unawarded.clone(),
        );
        r.register(
            "gateway_non_reveals",
            "Provers penalized for committing without revealing",
            self.non_reveals.clone(),
        );
        r.register(
            "gateway_equivocations",
            "Second, different commits by one prover for one batch (refused; kept as evidence)",
            self.equivocations.clone(),
        );
        r.register(
            "gateway_pruned_tasks",
            "Finished tasks removed from the store after the retention period",
            self.pruned_tasks.clone(),
        );
        r.register(
            "gateway_pruned_batches",
            "Auctions removed from the store after the retention period",
            self.pruned_batches.clone(),
        );
        r.register(
            "gateway_reauctions",
            "Assigned jobs reopened for auction, by reason",
            self.reauctions.clone(),
        );
        r.register(
            "gateway_slashes",
            "Provers slashed, by reason",
            self.slashes.clone(),
        );
        r.register(
            "gateway_slashed_amount",
            "Stake slashed, in fee units",
            self.slashed_amount.clone(),
        );
        r.register(
            "gateway_proofs",
            "Proofs checked, by outcome (valid, invalid)",
            self.proofs.clone(),
        );
        r.register(
            "gateway_paid",
            "Fee units paid to provers",
            self.paid.clone(),
        );
        r.register(
            "gateway_tasks",
            "Tasks by outcome (submitted, done, failed)",
            self.tasks.clone(),
        );
        r.register(
            "gateway_task_seconds",
            "Task latency from submission to result",
            self.task_seconds.clone(),
        );
        r.register(
            "gateway_job_seconds",
            "Time from award to verified proof, by category",
            self.job_seconds.clone(),
        );
        r.register(
            "gateway_verify_seconds",
            "Wall time of one batch verification",
            self.verify_seconds.clone(),
        );
        r.register(
            "gateway_verify_batch_size",
            "Proofs per batch verification",
            self.verify_batch.clone(),
        );
    }

    /// A batch was announced.
    pub fn batch(&self) {
        self.batches.inc();
    }

    /// A commit (`reveal == false`) or reveal was accepted, or refused.
    pub fn bid(&self, reveal: bool, accepted: bool) {
        match (reveal, accepted) {
            (_, false) => self.bids_refused.inc(),
            (false, true) => self.commits.inc(),
            (true, true) => self.reveals.inc(),
        };
    }

    /// A prover sent a second, different commit for a batch.
    pub fn equivocation(&self) {
        self.equivocations.inc();
    }

    /// Tasks and batches pruned after the retention period.
    pub fn pruned(&self, tasks: usize, batches: usize) {
        self.pruned_tasks.inc_by(tasks as u64);
        self.pruned_batches.inc_by(batches as u64);
    }

    /// An auction closed.
    pub fn auction(&self, awarded: usize, unawarded: usize, non_reveals: usize) {
        self.awards.inc_by(awarded as u64);
        self.unawarded.inc_by(unawarded as u64);
        self.non_reveals.inc_by(non_reveals as u64);
    }

    /// An assigned job failed: its prover was slashed `amount` and the job reopened.
    pub fn job_failed(&self, reason: FailReason, amount: u64) {
        self.reauctions.get_or_create(&reason.label()).inc();
        self.slashes.get_or_create(&reason.label()).inc();
        self.slashed_amount.inc_by(amount);
    }

    /// A proof verified and `paid` fee units went to its prover, `secs` after the award.
    pub fn proof_valid(&self, category: JobCategory, paid: u64, secs: f64) {
        self.proofs
            .get_or_create(&Outcome { outcome: "valid" })
            .inc();
        self.paid.inc_by(paid);
        self.job_seconds
            .get_or_create(&category_label(category))
            .observe(secs);
    }

    /// A proof did not verify.
    pub fn proof_invalid(&self) {
        self.proofs
            .get_or_create(&Outcome { outcome: "invalid" })
            .inc();
    }

    /// A batch of `n` proofs took `secs` to verify.
    pub fn verified_batch(&self, n: usize, secs: f64) {
        self.verify_seconds.observe(secs);
        self.verify_batch.observe(n as f64);
    }

    /// A task was stored.
    pub fn task_submitted(&self) {
        self.tasks
            .get_or_create(&Outcome {
                outcome: "submitted",
            })
            .inc();
    }

    /// A task ended, `secs` after submission.
    pub fn task_finished(&self, done: bool, secs: f64) {
        let outcome = if done { "done" } else { "failed" };
        self.tasks.get_or_create(&Outcome { outcome }).inc();
        if done {
            self.task_seconds.observe(secs);
        }
    }
}

/// The prover's counters and histograms in one Supernet.
#[derive(Clone, Debug)]
pub struct ProverMetrics {
    bids: Counter,
    wins: Counter,
    proofs: Family<Outcome, Counter>,
    earned: Counter,
    in_flight: Gauge,
    prove_seconds: Family<Category, Histogram>,
    audits: Family<Verdict, Counter>,
}

/// An audit's verdict label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Verdict {
    verdict: &'static str,
}

impl Default for ProverMetrics {
    fn default() -> Self {
        let m = Self {
            bids: Counter::default(),
            wins: Counter::default(),
            proofs: Family::default(),
            earned: Counter::default(),
            in_flight: Gauge::default(),
            prove_seconds: Family::new_with_constructor(seconds_buckets),
            audits: Family::default(),
        };
        for outcome in ["accepted", "rejected", "late", "not_assigned"] {
            let _ = m.proofs.get_or_create(&Outcome { outcome });
        }
        for verdict in ["honest", "deviation", "unattributable", "unavailable"] {
            let _ = m.audits.get_or_create(&Verdict { verdict });
        }
        for category in [JobCategory::Small, JobCategory::Medium, JobCategory::Large] {
            let _ = m.prove_seconds.get_or_create(&category_label(category));
        }
        m
    }
}

impl ProverMetrics {
    fn register(&self, r: &mut Registry) {
        r.register("prover_bids", "Jobs bid on", self.bids.clone());
        r.register("prover_wins", "Jobs won", self.wins.clone());
        r.register(
            "prover_proofs",
            "Proofs submitted, by the gateway's verdict (accepted, rejected, late, failed)",
            self.proofs.clone(),
        );
        r.register("prover_earned", "Fee units earned", self.earned.clone());
        r.register(
            "prover_jobs_in_flight",
            "Proofs being computed now",
            self.in_flight.clone(),
        );
        r.register(
            "prover_prove_seconds",
            "Proving time of one job, by category",
            self.prove_seconds.clone(),
        );
        r.register(
            "prover_audits",
            "Auctions audited, by verdict (honest, deviation, unattributable, unavailable)",
            self.audits.clone(),
        );
    }

    /// An auction's audit ended with `verdict`.
    pub fn audited(&self, verdict: &'static str) {
        self.audits.get_or_create(&Verdict { verdict }).inc();
    }

    /// Bids on `jobs` jobs were committed.
    pub fn bid(&self, jobs: usize) {
        self.bids.inc_by(jobs as u64);
    }

    /// A job was won.
    pub fn win(&self) {
        self.wins.inc();
    }

    /// A proof started (`true`) or ended.
    pub fn proving(&self, started: bool) {
        if started {
            self.in_flight.inc();
        } else {
            self.in_flight.dec();
        }
    }

    /// A proof of `category` took `secs`.
    pub fn proved(&self, category: Option<JobCategory>, secs: f64) {
        let category = category.map_or(Category { category: "other" }, category_label);
        self.prove_seconds.get_or_create(&category).observe(secs);
    }

    /// The gateway answered a submission (`earned` fee units if accepted).
    pub fn verdict(&self, outcome: &'static str, earned: u64) {
        self.proofs.get_or_create(&Outcome { outcome }).inc();
        self.earned.inc_by(earned);
    }
}

/// Reads the swarm's counters at scrape time.
#[derive(Debug)]
struct NetCollector(Arc<NetStats>);

fn encode_counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn encode_gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for NetCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.0;
        encode_gauge(&mut e, "net_peers", "Connected peers", s.peers())?;
        let counters = [
            (
                "net_gossip_accepted",
                "Gossip messages accepted after validation",
                &s.gossip_accepted,
            ),
            (
                "net_gossip_rejected",
                "Gossip messages rejected by validation",
                &s.gossip_rejected,
            ),
            (
                "net_gossip_ignored_busy",
                "Gossip ignored because validation was saturated",
                &s.gossip_ignored_busy,
            ),
            (
                "net_requests_refused",
                "Inbound requests refused (non-members, or busy)",
                &s.requests_refused,
            ),
            (
                "net_connections_denied",
                "Inbound connections denied (not on the allowlist, blocked, or over limits)",
                &s.connections_denied,
            ),
            (
                "net_events_dropped",
                "Network events the node was too slow to take",
                &s.events_dropped,
            ),
        ];
        for (name, help, c) in counters {
            encode_counter(&mut e, name, help, c.get())?;
        }
        Ok(())
    }
}

/// Reads the gateway's store at scrape time: jobs per state and size on disk.
#[derive(Debug)]
struct StoreCollector(Store);

impl Collector for StoreCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        if let Ok(counts) = self.0.job_counts() {
            let g = ConstGauge::new(0i64);
            let mut family =
                e.encode_descriptor("gateway_jobs", "Jobs by state", None, g.metric_type())?;
            for (state, n) in counts.by_state() {
                let labels = [("state", state)];
                ConstGauge::new(n as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        if let Ok(Some(tokens)) = self.0.tokens() {
            encode_tokens(&mut e, &tokens)?;
        }
        if let Ok(bytes) = self.0.size_on_disk() {
            encode_gauge(
                &mut e,
                "store_size_bytes",
                "Bytes the store takes on disk",
                bytes as i64,
            )?;
        }
        Ok(())
    }
}

/// The token ledger's figures: emissions, subsidies, buybacks, the pool's price and where
/// the supply is.
fn encode_tokens(e: &mut DescriptorEncoder, t: &crate::store::TokenState) -> std::fmt::Result {
    let supply = t.ledger.supply();
    let paid = &t.paid;
    let counters = [
        ("tokens_emitted", "Native tokens emitted", supply.emitted),
        (
            "tokens_burned",
            "Native tokens burnt (slashes)",
            supply.burned,
        ),
        (
            "tokens_client_paid",
            "Fee units clients paid for verified jobs",
            paid.client_paid,
        ),
        (
            "tokens_subsidized",
            "Fee units of job prices the emission budget paid",
            paid.subsidized,
        ),
        (
            "tokens_subsidy_native",
            "Native tokens the emission budget granted provers",
            paid.subsidy_native,
        ),
        (
            "tokens_buyback_fee",
            "Fee units of client fees that bought native tokens back",
            paid.buyback_fee,
        ),
        (
            "tokens_bought_back",
            "Native tokens bought back and granted to provers",
            paid.bought_native,
        ),
    ];
    for (name, help, v) in counters {
        encode_counter(e, name, help, v)?;
    }
    let gauges = [
        ("tokens_epoch", "The ledger's epoch", t.ledger.epoch()),
        (
            "tokens_supply",
            "Native tokens in existence",
            supply.total() as u64,
        ),
        (
            "tokens_locked",
            "Native tokens bonded, unbonding or vesting",
            supply.locked() as u64,
        ),
        (
            "tokens_liquid",
            "Native tokens liquid in accounts",
            supply.liquid,
        ),
        (
            "tokens_budget",
            "Native tokens in the emission budget",
            supply.budgets,
        ),
        (
            "tokens_pool_native",
            "Native tokens in the pool",
            supply.pool,
        ),
    ];
    for (name, help, v) in gauges {
        encode_gauge(e, name, help, i64::try_from(v).unwrap_or(i64::MAX))?;
    }
    let (fee, native) = t.ledger.pool().price();
    let price = if native == 0 {
        0.0
    } else {
        fee as f64 / native as f64
    };
    let g = ConstGauge::new(price);
    g.encode(e.encode_descriptor(
        "tokens_pool_price",
        "Fee units per native token in the pool",
        None,
        g.metric_type(),
    )?)
}

/// Whether the node is ready to serve: parameters loaded and peers found.
#[derive(Debug, Default)]
pub struct Readiness {
    params_loaded: AtomicBool,
    nets: Mutex<Vec<(SupernetId, Arc<NetStats>)>>,
}

impl Readiness {
    /// Parameters are loaded and checked.
    pub fn set_params_loaded(&self) {
        self.params_loaded.store(true, Ordering::Relaxed);
    }

    /// `None` when ready, otherwise what is missing.
    pub fn missing(&self) -> Option<String> {
        let mut missing = String::new();
        if !self.params_loaded.load(Ordering::Relaxed) {
            missing.push_str("parameters not loaded; ");
        }
        let nets = self.nets.lock().map(|n| n.clone()).unwrap_or_default();
        if nets.is_empty() {
            missing.push_str("not in any supernet; ");
        }
        for (supernet, net) in &nets {
            if net.peers() <= 0 {
                let _ = write!(missing, "no peers in supernet {supernet}; ");
            }
        }
        (!missing.is_empty()).then(|| missing.trim_end_matches("; ").to_string())
    }

    /// Each Supernet's swarm counters.
    pub fn nets(&self) -> Vec<(SupernetId, Arc<NetStats>)> {
        self.nets.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// The process's registry and readiness.
#[derive(Debug)]
pub struct NodeMetrics {
    registry: Mutex<Registry>,
    /// What `/readyz` answers.
    pub readiness: Readiness,
    /// Each gateway's store, for the dashboard.
    gateways: Mutex<Vec<(SupernetId, Store)>>,
}

impl NodeMetrics {
    /// An empty registry with the node's build info.
    pub fn new(role: &str) -> Arc<Self> {
        let mut registry = Registry::with_prefix("lagrange");
        registry.register(
            "node",
            "The node's version and role",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("role", role.to_string()),
            ]),
        );
        Arc::new(Self {
            registry: Mutex::new(registry),
            readiness: Readiness::default(),
            gateways: Mutex::new(Vec::new()),
        })
    }

    fn with_supernet(&self, supernet: &SupernetId, f: impl FnOnce(&mut Registry)) {
        if let Ok(mut r) = self.registry.lock() {
            let sub = r
                .sub_registry_with_label(("supernet".into(), supernet.as_str().to_string().into()));
            f(sub);
        }
    }

    /// Registers a Supernet's swarm counters; its peers count toward readiness.
    pub fn add_net(&self, supernet: &SupernetId, stats: Arc<NetStats>) {
        if let Ok(mut nets) = self.readiness.nets.lock() {
            nets.push((supernet.clone(), stats.clone()));
        }
        self.with_supernet(supernet, |r| {
            r.register_collector(Box::new(NetCollector(stats)))
        });
    }

    /// Metrics for a gateway in `supernet`, reading `store` at scrape time.
    pub fn add_gateway(&self, supernet: &SupernetId, store: Store) -> GatewayMetrics {
        if let Ok(mut gateways) = self.gateways.lock() {
            gateways.push((supernet.clone(), store.clone()));
        }
        let m = GatewayMetrics::default();
        self.with_supernet(supernet, |r| {
            m.register(r);
            r.register_collector(Box::new(StoreCollector(store)));
        });
        m
    }

    /// Each gateway's Supernet and store.
    pub fn gateway_stores(&self) -> Vec<(SupernetId, Store)> {
        self.gateways.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Metrics for a prover in `supernet`.
    pub fn add_prover(&self, supernet: &SupernetId) -> ProverMetrics {
        let m = ProverMetrics::default();
        self.with_supernet(supernet, |r| m.register(r));
        m
    }

    /// The Prometheus text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}
