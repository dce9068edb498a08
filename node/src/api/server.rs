//! The gRPC service: validates client input, hands tasks to the gateway of the right
//! Supernet, and serves task histories and results from the store.
//!
//! What a client can make the gateway do is bounded ([`ApiLimits`]): submissions per client
//! address (a token bucket, answered `RESOURCE_EXHAUSTED` when empty), tasks split at once
//! (a semaphore; a split may be long CPU work), task lists a page at a time from the store's
//! index of tasks by age, and task streams per client and in all.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use lagrange_protocol::tokenomics::{Bond, Ledger};
use lagrange_protocol::{BatchId, CircuitId, Digest, JobCategory, PublicKey, SupernetId, TaskId};

use super::pb;
use crate::clock::now_ms;
use crate::gateway::SubmitError;
use crate::gateway::driver::GatewayHandle;
use crate::model::{
    Account, Delivery, TaskEvent, TaskEventKind, TaskRecord, TaskSpec, TaskStatus, delivery_note,
};
use crate::store::{Store, StoreError};

/// Longest deadline a client may ask for: one week.
pub const MAX_DEADLINE_MS: u64 = 7 * 24 * 3600 * 1000;

/// Most `WatchTask` streams open at once from one client address.
pub const MAX_WATCHES_PER_CLIENT: usize = 16;

/// Most `WatchTask` streams open at once in all.
pub const MAX_WATCHES: usize = 1024;

/// Tasks listed in one `ListTasks` page unless the client asks for fewer.
pub const DEFAULT_PAGE: usize = 100;

/// Most tasks listed in one `ListTasks` page.
pub const MAX_PAGE: usize = 1000;

/// `SubmitTask` calls one client address may make a minute, unless configured otherwise.
pub const DEFAULT_SUBMITS_PER_MINUTE: u32 = 600;

/// Client addresses whose submission rate is remembered at once; past this, those whose
/// allowance is whole again are forgotten.
const MAX_RATED_CLIENTS: usize = 4096;

/// Submissions waiting for a split slot, per slot, past which more are refused.
const WAITING_PER_SPLIT: usize = 16;

/// Bounds on the work clients can make the gateway do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Tasks split at once, across the node's gateways (a split may be long CPU work on
    /// the blocking pool; more submissions wait their turn). At least 1.
    pub max_concurrent_splits: usize,
    /// `SubmitTask` calls one client address may make a minute, at most a tenth of a
    /// minute's worth at once (0: no limit).
    pub submits_per_minute: u32,
}

impl Default for ApiLimits {
    /// One split per core, [`DEFAULT_SUBMITS_PER_MINUTE`].
    fn default() -> Self {
        Self {
            max_concurrent_splits: std::thread::available_parallelism().map_or(2, |n| n.get()),
            submits_per_minute: DEFAULT_SUBMITS_PER_MINUTE,
        }
    }
}

/// The `Gateway` service over the gateways this node runs, one per Supernet.
#[derive(Clone)]
pub struct GatewayService {
    gateways: BTreeMap<SupernetId, GatewayHandle>,
    watches: Arc<Mutex<Watches>>,
    limits: ApiLimits,
    splits: Arc<tokio::sync::Semaphore>,
    waiting: Arc<AtomicUsize>,
    rates: Arc<Mutex<Rates>>,
}

/// Each client address's submission allowance: a token bucket.
#[derive(Default)]
struct Rates {
    buckets: HashMap<Option<IpAddr>, (f64, Instant)>,
}

impl Rates {
    /// Takes one submission from `client`'s allowance at `now`, or says how long until one
    /// is back.
    fn take(
        &mut self,
        client: Option<IpAddr>,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let per_sec = f64::from(per_minute) / 60.0;
        let burst = (f64::from(per_minute) / 10.0).max(1.0);
        let full = |(tokens, at): (f64, Instant)| {
            (tokens + now.saturating_duration_since(at).as_secs_f64() * per_sec).min(burst)
        };
        if self.buckets.len() >= MAX_RATED_CLIENTS {
            self.buckets.retain(|_, b| full(*b) < burst);
        }
        let tokens = self.buckets.get(&client).map_or(burst, |b| full(*b));
        if tokens >= 1.0 {
            self.buckets.insert(client, (tokens - 1.0, now));
            Ok(())
        } else {
            self.buckets.insert(client, (tokens, now));
            Err(Duration::from_secs_f64((1.0 - tokens) / per_sec))
        }
    }
}

/// Open `WatchTask` streams, by client address.
#[derive(Default)]
struct Watches {
    total: usize,
    by_client: HashMap<Option<IpAddr>, usize>,
}

/// One open stream's place in [`Watches`], given back when the stream ends.
struct WatchSlot {
    watches: Arc<Mutex<Watches>>,
    client: Option<IpAddr>,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut w = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        w.total = w.total.saturating_sub(1);
        if let Some(n) = w.by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.by_client.remove(&self.client);
            }
        }
    }
}

impl GatewayService {
    /// A service over these gateways, with the default [`ApiLimits`].
    pub fn new(gateways: BTreeMap<SupernetId, GatewayHandle>) -> Self {
        Self::with_limits(gateways, ApiLimits::default())
    }

    /// A service over these gateways, with these limits.
    pub fn with_limits(gateways: BTreeMap<SupernetId, GatewayHandle>, limits: ApiLimits) -> Self {
        let slots = limits.max_concurrent_splits.max(1);
        Self {
            gateways,
            watches: Arc::default(),
            limits,
            splits: Arc::new(tokio::sync::Semaphore::new(slots)),
            waiting: Arc::default(),
            rates: Arc::default(),
        }
    }

    /// Takes one submission from `client`'s allowance, or refuses.
    fn rate(&self, client: Option<IpAddr>) -> Result<(), Status> {
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        rates
            .take(client, self.limits.submits_per_minute, Instant::now())
            .map_err(|wait| {
                Status::resource_exhausted(format!(
                    "this client submits faster than {} tasks a minute; retry in {} ms",
                    self.limits.submits_per_minute,
                    wait.as_millis().max(1)
                ))
            })
    }

    /// Waits for a split slot, or refuses when too many submissions wait already.
    async fn split_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        if let Ok(permit) = self.splits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let slots = self.limits.max_concurrent_splits.max(1);
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= slots * WAITING_PER_SPLIT {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Status::resource_exhausted(
                "the gateway is splitting as many tasks as it can; retry later",
            ));
        }
        let permit = self.splits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.map_err(|_| Status::unavailable("the gateway is stopping"))
    }

    /// Takes a stream slot for `client`, or says why none is left.
    fn watch_slot(&self, client: Option<IpAddr>) -> Result<WatchSlot, Status> {
        let mut w = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        let mine = w.by_client.get(&client).copied().unwrap_or(0);
        if mine >= MAX_WATCHES_PER_CLIENT {
            return Err(Status::resource_exhausted(format!(
                "this client already watches {mine} tasks (at most {MAX_WATCHES_PER_CLIENT} at once)"
            )));
        }
        if w.total >= MAX_WATCHES {
            return Err(Status::resource_exhausted(
                "the gateway serves as many task streams as it can; retry later",
            ));
        }
        w.total += 1;
        *w.by_client.entry(client).or_default() += 1;
        Ok(WatchSlot {
            watches: self.watches.clone(),
            client,
        })
    }

    /// The tonic server for it, with its request size limit.
    pub fn into_server(self) -> pb::gateway_server::GatewayServer<Self> {
        pb::gateway_server::GatewayServer::new(self)
            .max_decoding_message_size(super::MAX_REQUEST_BYTES)
    }

    /// This node's gateway of the Supernet a request names.
    fn gateway_of(&self, supernet: &str) -> Result<&GatewayHandle, Status> {
        let supernet = SupernetId::new(supernet)
            .map_err(|e| Status::invalid_argument(format!("supernet: {e}")))?;
        self.gateways.get(&supernet).ok_or_else(|| {
            let served: Vec<&str> = self.gateways.keys().map(SupernetId::as_str).collect();
            Status::not_found(format!(
                "this node runs no gateway for supernet {supernet}; it serves: {}",
                served.join(", ")
            ))
        })
    }

    fn find(&self, task: &TaskId) -> Result<(GatewayHandle, TaskRecord), Status> {
        for gw in self.gateways.values() {
            if let Some(record) = gw.store().task(task).map_err(internal)? {
                return Ok((gw.clone(), record));
            }
        }
        Err(Status::not_found(format!(
            "no task {task}: unknown here, or finished longer ago than the gateway keeps tasks (gateway.retention_secs)"
        )))
    }
}

fn internal(e: StoreError) -> Status {
    Status::internal(format!("store: {e}"))
}

fn parse_task(id: &str) -> Result<TaskId, Status> {
    TaskId::from_str(id)
        .map_err(|e| Status::invalid_argument(format!("task_id {id:?} is not a task id: {e}")))
}

/// A `ListTasks` page token: the creation time and id of the last task listed.
fn parse_page_token(
    token: &str,
) -> Result<Option<(lagrange_protocol::UnixMillis, TaskId)>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad =
        || Status::invalid_argument(format!("page_token {token:?} is not one this gateway gave"));
    let (at, id) = token.split_once('.').ok_or_else(bad)?;
    let at = at.parse().map_err(|_| bad())?;
    let id = TaskId::from_str(id).map_err(|_| bad())?;
    Ok(Some((at, id)))
}

fn category(c: i32) -> Result<JobCategory, Status> {
    match pb::Category::try_from(c) {
        Ok(pb::Category::Small) => Ok(JobCategory::Small),
        Ok(pb::Category::Medium) => Ok(JobCategory::Medium),
        Ok(pb::Category::Large) => Ok(JobCategory::Large),
        _ => Err(Status::invalid_argument(
            "category must be CATEGORY_SMALL, CATEGORY_MEDIUM or CATEGORY_LARGE",
        )),
    }
}

fn status_of(s: &TaskStatus) -> (pb::TaskStatus, String) {
    match s {
        TaskStatus::Proving => (pb::TaskStatus::Proving, String::new()),
        TaskStatus::Done => (pb::TaskStatus::Done, String::new()),
        TaskStatus::Failed { reason } => (pb::TaskStatus::Failed, reason.clone()),
    }
}

/// One stored event as the wire sees it.
pub fn event_to_pb(e: &TaskEvent) -> pb::TaskEvent {
    let mut out = pb::TaskEvent {
        seq: e.seq,
        at_ms: e.at,
        ..Default::default()
    };
    let (kind, detail) = match &e.kind {
        TaskEventKind::Submitted { jobs } => ("submitted", format!("stored with {jobs} jobs")),
        TaskEventKind::Offered {
            job,
            batch,
            reserve_price,
        } => {
            out.job_id = job.to_string();
            (
                "offered",
                format!("offered in batch {batch} at reserve {reserve_price}"),
            )
        }
        TaskEventKind::AuctionClosed {
            batch,
            commits,
            reveals,
            non_revealers,
        } => (
            "auction_closed",
            format!(
                "batch {batch}: {commits} commits, {reveals} reveals, {non_revealers} non-revealers"
            ),
        ),
        TaskEventKind::Awarded { job, prover, price } => {
            out.job_id = job.to_string();
            out.prover = prover.to_string();
            out.price = *price;
            ("awarded", format!("awarded at {price}"))
        }
        TaskEventKind::Unawarded { job } => {
            out.job_id = job.to_string();
            ("unawarded", "no valid bid; offered again".into())
        }
        TaskEventKind::Proven { job, prover, price } => {
            out.job_id = job.to_string();
            out.prover = prover.to_string();
            out.price = *price;
            ("proven", format!("proof verified; paid {price}"))
        }
        TaskEventKind::Failed {
            job,
            prover,
            reason,
        } => {
            out.job_id = job.to_string();
            out.prover = prover.to_string();
            ("job_failed", reason.clone())
        }
        TaskEventKind::Completed => ("completed", "all proofs verified and aggregated".into()),
        TaskEventKind::Aborted { reason } => ("failed", reason.clone()),
        TaskEventKind::Delivered {
            contract,
            tx,
            block,
        } => ("delivered", delivery_note(contract, tx.as_ref(), *block)),
        TaskEventKind::DeliveryFailed { reason } => ("delivery_failed", reason.clone()),
    };
    out.kind = kind.into();
    out.detail = detail;
    out
}

/// What a task's jobs cost under the token rules, if its Supernet runs them. A failed task
/// is not billed: the client's part of its verified jobs is the gateway's.
fn payments_of(store: &Store, task: &TaskRecord) -> Result<Option<pb::TaskPayments>, Status> {
    let failed = matches!(task.status, TaskStatus::Failed { .. });
    Ok(store
        .task_payments(&task.id)
        .map_err(internal)?
        .map(|p| pb::TaskPayments {
            jobs: p.jobs,
            price: p.price,
            client_paid: if failed { 0 } else { p.client_paid },
            subsidized: p.subsidized,
            subsidy_native: p.subsidy_native,
            buyback_fee: p.buyback_fee,
            bought_native: p.bought_native,
            gateway_paid: if failed { p.client_paid } else { 0 },
        }))
}

/// An account's native tokens in `supernet`'s ledger.
fn balances(ledger: &Ledger, supernet: &SupernetId, who: &PublicKey) -> pb::TokenBalances {
    let (vesting, vested) = ledger.vesting(who);
    pb::TokenBalances {
        liquid: ledger.liquid(who),
        staked: ledger.bonded(supernet, who, Bond::Stake),
        delegated: ledger.bonded(supernet, who, Bond::Delegation),
        unbonding: ledger.unbonding(who),
        vesting,
        vested,
        fee_balance: ledger.fees(who),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::TaskEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::gateway_server::Gateway for GatewayService {
    async fn submit_task(
        &self,
        request: Request<pb::SubmitTaskRequest>,
    ) -> Result<Response<pb::SubmitTaskResponse>, Status> {
        self.rate(request.remote_addr().map(|a| a.ip()))?;
        let r = request.into_inner();
        let gateway = self.gateway_of(&r.supernet)?;
        if r.max_fee_per_job == 0 {
            return Err(Status::invalid_argument("max_fee_per_job must be positive"));
        }
        if r.deadline_ms == 0 || r.deadline_ms > MAX_DEADLINE_MS {
            return Err(Status::invalid_argument(format!(
                "deadline_ms must be between 1 and {MAX_DEADLINE_MS}"
            )));
        }
        let spec = match r.task {
            Some(pb::submit_task_request::Task::Query(q)) => {
                let category = category(r.category)?;
                if q.rows.is_empty() {
                    return Err(Status::invalid_argument("query.rows is empty"));
                }
                TaskSpec::Query {
                    rows: q.rows.iter().map(|row| (row.key, row.value)).collect(),
                    lo: q.lo,
                    hi: q.hi,
                    category,
                }
            }
            Some(pb::submit_task_request::Task::Synthetic(s)) => {
                let category = category(r.category)?;
                if s.jobs == 0 {
                    return Err(Status::invalid_argument("synthetic.jobs must be positive"));
                }
                TaskSpec::Synthetic {
                    jobs: s.jobs,
                    category,
                }
            }
            Some(pb::submit_task_request::Task::Circom(c)) => {
                let circuit = CircuitId::new(c.circuit.clone())
                    .map_err(|e| Status::invalid_argument(format!("circom.circuit: {e}")))?;
                if c.witnesses.is_empty() && c.inputs.is_empty() {
                    return Err(Status::invalid_argument(
                        "circom.witnesses and circom.inputs are both empty",
                    ));
                }
                TaskSpec::Circom {
                    circuit,
                    witnesses: c.witnesses,
                    inputs: c.inputs,
                }
            }
            Some(pb::submit_task_request::Task::Zkml(z)) => {
                let model = CircuitId::new(z.model.clone())
                    .map_err(|e| Status::invalid_argument(format!("zkml.model: {e}")))?;
                if z.inputs.is_empty() {
                    return Err(Status::invalid_argument("zkml.inputs is empty"));
                }
                let commitment = match z.model_commitment.as_str() {
                    "" => None,
                    hex => Some(hex.parse::<Digest>().map_err(|e| {
                        Status::invalid_argument(format!("zkml.model_commitment: {e}"))
                    })?),
                };
                TaskSpec::Zkml {
                    model,
                    inputs: z
                        .inputs
                        .into_iter()
                        .map(|input| input.values.into_iter().map(f32::to_bits).collect())
                        .collect(),
                    commitment,
                }
            }
            None => {
                return Err(Status::invalid_argument(
                    "task is missing: set query, synthetic, circom or zkml",
                ));
            }
        };
        let delivery = match &r.deliver_to {
            None => None,
            Some(d) => {
                let source = (!d.source.is_empty()).then_some(d.source.as_str());
                let delivery = Delivery::parse(&d.contract, source)
                    .map_err(|e| Status::invalid_argument(format!("deliver_to.{e}")))?;
                if !gateway.delivers() {
                    return Err(Status::failed_precondition(
                        "this gateway delivers to no chain: deliver the result yourself",
                    ));
                }
                Some(delivery)
            }
        };
        // Held until the task is split and stored.
        let _slot = self.split_slot().await?;
        let deadline = now_ms().saturating_add(r.deadline_ms);
        match gateway
            .submit_delivered(spec, r.max_fee_per_job, deadline, delivery)
            .await
        {
            Ok(task) => Ok(Response::new(pb::SubmitTaskResponse {
                task_id: task.id.to_string(),
                jobs: task.jobs,
            })),
            Err(SubmitError::Invalid(reason)) => Err(Status::invalid_argument(reason)),
            Err(SubmitError::Store(e)) => Err(internal(e)),
        }
    }

    type WatchTaskStream = EventStream;

    async fn watch_task(
        &self,
        request: Request<pb::WatchTaskRequest>,
    ) -> Result<Response<Self::WatchTaskStream>, Status> {
        let client = request.remote_addr().map(|a| a.ip());
        let r = request.into_inner();
        let id = parse_task(&r.task_id)?;
        let (gateway, _) = self.find(&id)?;
        let slot = self.watch_slot(client)?;
        let (tx, rx) = mpsc::channel(64);
        let mut seen = r.from_seq;
        tokio::spawn(async move {
            // The slot is given back when the stream ends, however it ends.
            let _slot = slot;
            let mut changes = gateway.changes();
            let finished = || gateway.settled(&id);
            loop {
                // Read before the events: a task final here has its last event among them.
                let was_finished = finished();
                let events = match gateway.store().events(&id, seen) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.send(Err(internal(e))).await;
                        return;
                    }
                };
                // Nothing terminal is shown before it is durable: the store is read while
                // the core writes, so a task may be seen done before the core's flush.
                if !events.is_empty()
                    && finished()
                    && let Err(e) = gateway.store().flush().await
                {
                    let _ = tx.send(Err(internal(e))).await;
                    return;
                }
                for event in &events {
                    seen = event.seq + 1;
                    if tx.send(Ok(event_to_pb(event))).await.is_err() {
                        return;
                    }
                }
                if (was_finished || r.snapshot) && events.is_empty() {
                    return;
                }
                if events.is_empty() {
                    // Wait for news, or for the client to go away.
                    tokio::select! {
                        changed = changes.changed() => if changed.is_err() { return },
                        () = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::GetResultResponse>, Status> {
        let id = parse_task(&request.into_inner().task_id)?;
        let (gateway, record) = self.find(&id)?;
        if record.status.is_final() {
            // Durable before shown: the core may not have flushed what this read saw.
            gateway.store().flush().await.map_err(internal)?;
        }
        let (status, error) = status_of(&record.status);
        let result = gateway
            .store()
            .result(&id)
            .map_err(internal)?
            .unwrap_or_default();
        Ok(Response::new(pb::GetResultResponse {
            task_id: id.to_string(),
            status: status.into(),
            result,
            error,
            payments: payments_of(gateway.store(), &record)?,
            billed: record.billed(),
        }))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let r = request.into_inner();
        let limit = match r.limit {
            0 => DEFAULT_PAGE,
            n => (n as usize).min(MAX_PAGE),
        };
        let after = parse_page_token(&r.page_token)?;
        let stores: Vec<Store> = self.gateways.values().map(|g| g.store().clone()).collect();
        // Store reads, off the runtime: one page from each gateway's index, merged.
        let page = tokio::task::spawn_blocking(move || -> Result<_, Status> {
            let mut tasks = Vec::new();
            for store in &stores {
                for t in store
                    .tasks_newest_first(after, limit + 1)
                    .map_err(internal)?
                {
                    tasks.push((t, store));
                }
            }
            tasks.sort_by_key(|(t, _)| std::cmp::Reverse((t.created_at, t.id)));
            let more = tasks.len() > limit;
            tasks.truncate(limit);
            let next = match tasks.last() {
                Some((t, _)) if more => format!("{}.{}", t.created_at, t.id),
                _ => String::new(),
            };
            let mut summaries = Vec::with_capacity(tasks.len());
            for (t, store) in tasks {
                let (status, error) = status_of(&t.status);
                summaries.push(pb::TaskSummary {
                    task_id: t.id.to_string(),
                    supernet: t.supernet.to_string(),
                    status: status.into(),
                    jobs: t.jobs,
                    jobs_done: t.verified,
                    created_at_ms: t.created_at,
                    error,
                    fees: t.fees,
                    payments: payments_of(store, &t)?,
                    billed: t.billed(),
                });
            }
            Ok((summaries, next))
        })
        .await
        .map_err(|e| Status::internal(format!("listing tasks: {e}")))??;
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page.0,
            next_page_token: page.1,
        }))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let wanted = request.into_inner().supernet;
        if !wanted.is_empty() {
            self.gateway_of(&wanted)?;
        }
        let mut accounts = Vec::new();
        let mut pruned = Vec::new();
        for (id, gw) in &self.gateways {
            if !wanted.is_empty() && wanted != id.as_str() {
                continue;
            }
            let totals = gw.store().pruned_totals().map_err(internal)?;
            pruned.push(pb::PrunedTotals {
                supernet: id.to_string(),
                tasks: totals.tasks,
                tasks_done: totals.done,
                jobs_paid: totals.jobs_paid,
                paid: totals.paid,
            });
            let tokens = gw.store().tokens().map_err(internal)?;
            let mut provers: BTreeMap<PublicKey, Account> = gw
                .store()
                .accounts()
                .map_err(internal)?
                .into_iter()
                .collect();
            // Every prover, and every account that holds tokens without being one.
            let mut keys: std::collections::BTreeSet<PublicKey> = provers.keys().copied().collect();
            if let Some(t) = &tokens {
                keys.extend(t.ledger.accounts());
            }
            for key in keys {
                let a = provers.remove(&key).unwrap_or_default();
                accounts.push(pb::Account {
                    supernet: id.to_string(),
                    prover: key.to_string(),
                    peer_id: key.peer_id().map(|p| p.to_string()).unwrap_or_default(),
                    stake: a.stake,
                    balance: a.balance,
                    slashed: a.slashed,
                    jobs_paid: a.jobs_paid,
                    failures: a.failures,
                    non_reveals: a.non_reveals,
                    tokens: tokens.as_ref().map(|t| balances(&t.ledger, id, &key)),
                });
            }
        }
        Ok(Response::new(pb::ListAccountsResponse { accounts, pruned }))
    }

    async fn get_transcript(
        &self,
        request: Request<pb::GetTranscriptRequest>,
    ) -> Result<Response<pb::GetTranscriptResponse>, Status> {
        let r = request.into_inner();
        let gateway = self.gateway_of(&r.supernet)?;
        let batch = BatchId::from_str(&r.batch_id).map_err(|e| {
            Status::invalid_argument(format!("batch_id {:?} is not a batch id: {e}", r.batch_id))
        })?;
        let store = gateway.store().clone();
        let transcript = tokio::task::spawn_blocking(move || store.transcript(&batch))
            .await
            .map_err(|e| Status::internal(format!("reading the transcript: {e}")))?
            .map_err(internal)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no transcript for batch {batch}: unknown, not awarded, or older than the gateway keeps auctions (gateway.retention_secs)"
                ))
            })?;
        Ok(Response::new(pb::GetTranscriptResponse {
            transcript: lagrange_protocol::canonical::canonical_bytes(&transcript),
        }))
    }
}
