//! Runs a [`ProverCore`] against the network, a clock and a bounded proving pool.
//!
//! Proofs run on the blocking pool, at most `capacity` at once (a semaphore bounds them).
//! Bids, fetches and submissions run in their own tasks and report back, so the loop never
//! waits on the network or on a proof. A gateway telling the prover of a job directly
//! (`Request::Assign`) is answered from the loop, once the core holds the job.
//!
//! With a store, a round's sealed bids are saved and flushed before any of its outputs go
//! out ([`persist_bids`]), so a commit is never sent that a restarted prover could not
//! reveal; at the next start the open ones are taken back and revealed ([`resume`]).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::{error, warn};

use lagrange_protocol::UnixMillis;
use lagrange_protocol::audit::{AuditError, Evidence};
use lagrange_protocol::messages::{GossipMessage, Request, Response};

use super::core::{BidAnswer, CostModel, HeldJob, Input, Output, ProverCore, SealedBid};
use crate::clock::{TICK, now_ms};
use crate::metrics::ProverMetrics;
use crate::net::{NetEvent, SupernetHandle};
use crate::store::{Store, StoreError};
use crate::workload::Workload;

/// Takes back what a prover saved in `store` before it stopped: the jobs it held, and the
/// sealed bids it has not revealed. Returns the held jobs as read (what is saved now) and
/// what the core asks for about both.
pub fn resume(
    core: &mut ProverCore,
    store: &Store,
    now: UnixMillis,
) -> (Vec<HeldJob>, Vec<Output>) {
    let mut saved = Vec::new();
    let mut out = Vec::new();
    match store.held_jobs::<HeldJob>() {
        Ok(jobs) => {
            saved = jobs.clone();
            out = core.resume(jobs, now);
        }
        Err(e) => warn!(error = %e, "cannot read held jobs; starting empty"),
    }
    match store.sealed_bids::<SealedBid>() {
        Ok(bids) => out.extend(core.resume_bids(bids, now)),
        Err(e) => warn!(error = %e, "cannot read sealed bids; none to reveal"),
    }
    (saved, out)
}

/// Saves the sealed bids among `outputs` and forgets the settled ones; when one was saved,
/// flushes before it returns. Run before any of `outputs` goes out: a commit sent after it
/// can be revealed after a crash.
pub async fn persist_bids(store: &Store, outputs: &[Output]) -> Result<(), StoreError> {
    let mut saved = false;
    for output in outputs {
        match output {
            Output::SaveBid(bid) => {
                store.save_sealed_bid(&bid.batch, bid.as_ref())?;
                saved = true;
            }
            Output::ForgetBid(batch) => store.forget_sealed_bid(batch)?,
            _ => {}
        }
    }
    if saved {
        store.flush().await?;
    }
    Ok(())
}

/// What the node tells a running prover.
#[derive(Debug, Clone)]
pub struct ProverHandle {
    inputs: mpsc::Sender<Input>,
}

impl ProverHandle {
    /// The prover's parameters are loaded and its proving times measured
    /// ([`Input::Ready`]): it starts announcing and bidding. False if it has stopped.
    pub async fn ready(&self, cost: CostModel) -> bool {
        self.inputs.send(Input::Ready(cost)).await.is_ok()
    }
}

/// Starts the prover. `events` carries this Supernet's network events for the prover. With a
/// `store`, the jobs it holds are saved after every change and resumed at the next start,
/// and each sealed bid is saved before its commit goes out and revealed after a restart.
/// Cancelling `stop` ends it; proofs under way are abandoned (and resumed at the next start).
pub fn spawn<W: Workload>(
    mut core: ProverCore,
    capacity: usize,
    workload: Arc<W>,
    net: SupernetHandle,
    mut events: mpsc::Receiver<NetEvent>,
    store: Option<Store>,
    stop: tokio_util::sync::CancellationToken,
) -> (ProverHandle, JoinHandle<()>) {
    let (done_tx, mut done_rx) = mpsc::channel::<Input>(64);
    let handle = ProverHandle {
        inputs: done_tx.clone(),
    };
    let task = tokio::spawn(async move {
        let mut resumed = Vec::new();
        let mut saved = Vec::new();
        if let Some(store) = &store {
            (saved, resumed) = resume(&mut core, store, now_ms());
        }
        let pool = Arc::new(Semaphore::new(capacity.max(1)));
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let supernet = net.supernet().clone();
        let metrics = core.metrics().clone();
        loop {
            let input = tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => Input::Tick,
                Some(done) = done_rx.recv() => done,
                event = events.recv() => match event {
                    Some(NetEvent::Gossip { source, message, .. }) => Input::Gossip { source, message },
                    Some(NetEvent::PeerConnected { peer, .. }) => Input::Connected(peer),
                    Some(NetEvent::Request { peer, token, request, .. }) => {
                        Input::Request { peer, token, request }
                    }
                    Some(_) => continue,
                    None => break,
                },
            };
            // Outputs of the jobs resumed at start go out with the first round that gets here.
            let mut outputs = std::mem::take(&mut resumed);
            outputs.extend(core.handle(input, now_ms()));
            if let Some(store) = &store
                && let Err(e) = persist_bids(store, &outputs).await
            {
                // Unsaved, a commit could not be revealed after a crash: it is not sent, and
                // the core lets the bid go as if the gateway had refused it.
                error!(error = %e, "cannot save sealed bids; withholding this round's commits");
                let withheld: Vec<_> = outputs
                    .iter()
                    .filter_map(|o| match o {
                        Output::SendCommit { commit, .. } => Some(commit.payload.batch_id),
                        _ => None,
                    })
                    .collect();
                outputs.retain(|o| {
                    !matches!(
                        o,
                        Output::SendCommit { .. } | Output::Publish(GossipMessage::Commit(_))
                    )
                });
                for batch in withheld {
                    // What it asks for is only to forget the bid, which was never saved.
                    let _ = core.handle(
                        Input::BidAnswered {
                            batch,
                            reveal: false,
                            result: BidAnswer::Refused("the sealed bid could not be saved".into()),
                        },
                        now_ms(),
                    );
                }
            }
            if let Some(store) = &store {
                let held = core.held_jobs();
                if held != saved {
                    let records: Vec<_> = held.iter().map(|h| (h.job, h.clone())).collect();
                    if let Err(e) = store.save_held_jobs(&records) {
                        warn!(error = %e, "cannot save held jobs");
                    }
                    saved = held;
                }
            }
            for output in outputs {
                let done = done_tx.clone();
                let net = net.clone();
                match output {
                    // Saved or forgotten above, before anything went out.
                    Output::SaveBid(_) | Output::ForgetBid(_) => {}
                    Output::Respond { token, response } => net.respond(token, response).await,
                    Output::Publish(message) => {
                        tokio::spawn(async move {
                            if let Err(e) = net.publish(message).await {
                                warn!(error = %e, "publish failed");
                            }
                        });
                    }
                    Output::SendCommit { gateway, commit } => {
                        let batch = commit.payload.batch_id;
                        tokio::spawn(async move {
                            let result =
                                answer(net.request(gateway, Request::Commit(commit)).await);
                            let _ = done
                                .send(Input::BidAnswered {
                                    batch,
                                    reveal: false,
                                    result,
                                })
                                .await;
                        });
                    }
                    Output::SendReveal { gateway, reveal } => {
                        let batch = reveal.payload.batch_id;
                        tokio::spawn(async move {
                            let result =
                                answer(net.request(gateway, Request::Reveal(reveal)).await);
                            let _ = done
                                .send(Input::BidAnswered {
                                    batch,
                                    reveal: true,
                                    result,
                                })
                                .await;
                        });
                    }
                    Output::FetchTranscript { gateway, batch } => {
                        let request = Request::Transcript {
                            supernet: supernet.clone(),
                            batch_id: batch,
                        };
                        tokio::spawn(async move {
                            let result = match net.request(gateway, request).await {
                                Ok(Response::Transcript(t)) => Ok(t),
                                Ok(Response::Refused { reason }) => Err(reason),
                                Ok(other) => Err(format!("unexpected answer {other:?}")),
                                Err(e) => Err(e.to_string()),
                            };
                            let _ = done.send(Input::Transcript { batch, result }).await;
                        });
                    }
                    Output::Audit { evidence, dir } => {
                        let metrics = metrics.clone();
                        tokio::task::spawn_blocking(move || {
                            audit(&evidence, dir.as_deref(), &metrics)
                        });
                    }
                    Output::AskAssignments { gateway } => {
                        let request = Request::Assignments {
                            supernet: supernet.clone(),
                        };
                        tokio::spawn(async move {
                            match net.request(gateway, request).await {
                                Ok(Response::Assignments { assignments }) => {
                                    let _ = done
                                        .send(Input::Assignments {
                                            gateway,
                                            assignments,
                                        })
                                        .await;
                                }
                                Ok(other) => {
                                    warn!(peer = %gateway, answer = ?other, "gateway did not list assignments")
                                }
                                Err(e) => {
                                    tracing::debug!(peer = %gateway, error = %e, "cannot ask the gateway for assignments")
                                }
                            }
                        });
                    }
                    Output::FetchInput { gateway, job } => {
                        let request = Request::JobInput {
                            supernet: supernet.clone(),
                            job_id: job,
                        };
                        tokio::spawn(async move {
                            let input = match net.request(gateway, request).await {
                                Ok(Response::JobInput { assignment, input }) => {
                                    Input::JobInput { assignment, input }
                                }
                                Ok(Response::Refused { reason }) => Input::JobInputFailed {
                                    job,
                                    reason,
                                    refused: true,
                                },
                                Ok(other) => Input::JobInputFailed {
                                    job,
                                    reason: format!("unexpected answer {other:?}"),
                                    refused: false,
                                },
                                Err(e) => Input::JobInputFailed {
                                    job,
                                    reason: e.to_string(),
                                    refused: false,
                                },
                            };
                            let _ = done.send(input).await;
                        });
                    }
                    Output::Prove {
                        job,
                        circuit,
                        input,
                    } => {
                        let pool = pool.clone();
                        let workload = workload.clone();
                        let metrics = metrics.clone();
                        let category = core.category_of(&circuit);
                        tokio::spawn(async move {
                            let Ok(_permit) = pool.acquire_owned().await else {
                                return;
                            };
                            metrics.proving(true);
                            let started = std::time::Instant::now();
                            let result = tokio::task::spawn_blocking(move || {
                                workload.prove(&circuit, &input).map_err(|e| e.to_string())
                            })
                            .await
                            .unwrap_or_else(|e| Err(format!("proving panicked: {e}")));
                            metrics.proving(false);
                            if result.is_ok() {
                                metrics.proved(category, started.elapsed().as_secs_f64());
                            }
                            let _ = done.send(Input::Proved { job, result }).await;
                        });
                    }
                    Output::Submit {
                        gateway,
                        submission,
                    } => {
                        let job = submission.payload.job_id;
                        tokio::spawn(async move {
                            let input = match net
                                .request(gateway, Request::SubmitProof(submission))
                                .await
                            {
                                Ok(Response::Verdict(v)) if v.verify().is_ok() => Input::Verdict {
                                    job,
                                    outcome: v.payload.outcome,
                                },
                                Ok(other) => Input::SubmitFailed {
                                    job,
                                    reason: format!("unexpected answer {other:?}"),
                                },
                                Err(e) => Input::SubmitFailed {
                                    job,
                                    reason: e.to_string(),
                                },
                            };
                            let _ = done.send(input).await;
                        });
                    }
                }
            }
        }
    });
    (handle, task)
}

/// What became of a direct bid.
fn answer(response: Result<Response, crate::net::RequestError>) -> BidAnswer {
    match response {
        Ok(Response::Receipt(receipt)) => BidAnswer::Taken(Box::new(receipt)),
        Ok(Response::Refused { reason }) => BidAnswer::Refused(reason),
        Ok(other) => BidAnswer::Refused(format!("unexpected answer {other:?}")),
        Err(e) => BidAnswer::Unanswered(e.to_string()),
    }
}

/// Audits an auction, counts the verdict, and keeps the evidence of a deviation in `dir`
/// (`<gateway>-<batch>.evidence`, readable by `lagrange-node audit`).
fn audit(evidence: &Evidence, dir: Option<&Path>, metrics: &ProverMetrics) {
    let t = &evidence.transcript;
    let batch = t.batch.payload.batch_id;
    match lagrange_protocol::audit::audit(evidence) {
        Ok(_) => metrics.audited("honest"),
        Err(AuditError::Unattributable(reason)) => {
            metrics.audited("unattributable");
            warn!(batch_id = %batch, %reason, "auction transcript does not bind its gateway");
        }
        Err(e @ AuditError::Deviation { .. }) => {
            metrics.audited("deviation");
            error!(batch_id = %batch, peer = %t.batch.signer, "{e}");
            if let Some(dir) = dir {
                let name = format!("{}-{batch}.evidence", t.batch.signer);
                crate::evidence_files::keep(dir, &name, &evidence.to_bytes());
            }
        }
    }
}
