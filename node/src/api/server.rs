//! The gRPC service: validates client input, hands tasks to the gateway of the right
//! Supernet, and serves task histories and results from the store.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

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
use crate::store::{
    Account, JobState, Store, StoreError, TaskEvent, TaskEventKind, TaskRecord, TaskSpec,
    TaskStatus,
};

/// Longest deadline a client may ask for: one week.
pub const MAX_DEADLINE_MS: u64 = 7 * 24 * 3600 * 1000;

/// Most `WatchTask` streams open at once from one client address.
pub const MAX_WATCHES_PER_CLIENT: usize = 16;

/// Most `WatchTask` streams open at once in all.
pub const MAX_WATCHES: usize = 1024;

/// The `Gateway` service over the gateways this node runs, one per Supernet.
#[derive(Clone)]
pub struct GatewayService {
    gateways: BTreeMap<SupernetId, GatewayHandle>,
    watches: Arc<Mutex<Watches>>,
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
    /// A service over these gateways.
    pub fn new(gateways: BTreeMap<SupernetId, GatewayHandle>) -> Self {
        Self {
            gateways,
            watches: Arc::default(),
        }
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
        let deadline = now_ms().saturating_add(r.deadline_ms);
        match gateway.submit(spec, r.max_fee_per_job, deadline).await {
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
            loop {
                let events = match gateway.store().events(&id, seen) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.send(Err(internal(e))).await;
                        return;
                    }
                };
                for event in &events {
                    seen = event.seq + 1;
                    if tx.send(Ok(event_to_pb(event))).await.is_err() {
                        return;
                    }
                }
                let finished = gateway
                    .store()
                    .task(&id)
                    .ok()
                    .flatten()
                    .is_none_or(|t| t.status.is_final());
                if (finished || r.snapshot) && events.is_empty() {
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
        let limit = match request.into_inner().limit {
            0 => 100,
            n => n.min(10_000) as usize,
        };
        let mut tasks = Vec::new();
        for gw in self.gateways.values() {
            for t in gw.store().tasks().map_err(internal)? {
                let done = gw
                    .store()
                    .jobs_of(&t.id)
                    .map_err(internal)?
                    .iter()
                    .filter(|j| matches!(j.state, JobState::Verified { .. }))
                    .count() as u32;
                let (status, error) = status_of(&t.status);
                tasks.push(pb::TaskSummary {
                    task_id: t.id.to_string(),
                    supernet: t.supernet.to_string(),
                    status: status.into(),
                    jobs: t.jobs,
                    jobs_done: done,
                    created_at_ms: t.created_at,
                    error,
                    fees: t.fees,
                    payments: payments_of(gw.store(), &t)?,
                    billed: t.billed(),
                });
            }
        }
        tasks.sort_by_key(|t| std::cmp::Reverse(t.created_at_ms));
        tasks.truncate(limit);
        Ok(Response::new(pb::ListTasksResponse { tasks }))
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
            transcript: lagrange_protocol::codec::canonical_bytes(&transcript),
        }))
    }
}
