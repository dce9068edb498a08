//! The auction of a batch: which jobs are offered to whom, commits and reveals taken into
//! its bid book, the closed commit set, and the award with the reserve prices that follow it.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info, warn};

use lagrange_protocol::auction::{Eligibility, ProverStanding, backed_slots};
use lagrange_protocol::book::{BidBook, BidError};
use lagrange_protocol::equivocation::Equivocation;
use lagrange_protocol::merkle::WeightTree;
use lagrange_protocol::messages::{
    AuctionResult, BatchAnnouncement, GossipMessage, JobSpec, ProverAvailability,
};
use lagrange_protocol::sortition::weight;
use lagrange_protocol::{
    BatchId, Digest, JobCategory, JobId, Price, PublicKey, Signed, TaskId, UnixMillis,
};

use super::{
    AVAILABILITY_TTL_MS, GatewayCore, MIN_PROVING_PERCENT, OFFER_SCAN, Output,
    QUIET_BATCHES_WARNING, RESERVE_RAISE_PERCENT, Unplaced,
};
use crate::gateway::deadlines::Due;
use crate::model::{JobRecord, JobState};
use crate::store::{AwardOutcome, StoreError};

impl GatewayCore {
    /// Provers heard from recently (an availability within its time to live). Whether each
    /// may take a job (allowlist, stake, category) the callers judge.
    fn live_provers(
        &self,
        now: UnixMillis,
    ) -> impl Iterator<Item = (&PublicKey, &Signed<ProverAvailability>)> {
        self.provers.iter().filter(move |(key, _)| {
            self.heard
                .get(*key)
                .is_some_and(|at| now.saturating_sub(*at) <= AVAILABILITY_TTL_MS)
        })
    }

    /// Jobs each prover holds now.
    fn in_flight(&self) -> Result<BTreeMap<PublicKey, u32>, StoreError> {
        let mut in_flight: BTreeMap<PublicKey, u32> = BTreeMap::new();
        for job in self.store.assigned_jobs()? {
            if let JobState::Assigned { prover, .. } = job.state {
                *in_flight.entry(prover).or_default() += 1;
            }
        }
        Ok(in_flight)
    }

    /// The weight table a new batch ranks its commit slots with: every live, allowlisted
    /// prover at or above the minimum stake with room for a job, weighing its stake bounded
    /// by what its free capacity (announced, less the jobs it holds) backs ([`weight`]).
    fn slot_weights(
        &self,
        now: UnixMillis,
        in_flight: &BTreeMap<PublicKey, u32>,
    ) -> Result<WeightTree, StoreError> {
        let min_stake = self.supernet.economics.min_stake;
        let mut weights = BTreeMap::new();
        for (key, avail) in self.live_provers(now) {
            if !self.allows(key) {
                continue;
            }
            let stake = self.store.account(key)?.map_or(0, |a| a.stake);
            let free = avail
                .payload
                .capacity
                .saturating_sub(in_flight.get(key).copied().unwrap_or(0));
            let w = weight(stake, free, min_stake);
            if w > 0 {
                weights.insert(*key, w);
            }
        }
        // Stakes are checked sums of one ledger, so the table's total cannot overflow; were
        // it ever to, an empty table announces a batch nobody can commit to (re-auctioned).
        Ok(WeightTree::new(&weights).unwrap_or_else(|e| {
            warn!(error = %e, "weight table refused; the batch takes no commits");
            WeightTree::empty()
        }))
    }

    /// How many jobs of each category the next batch may offer: the free capacity of the
    /// live, eligible provers that serve it, less the jobs already in running auctions. A
    /// job is only offered when some prover has room for it.
    fn offer_budget(
        &self,
        now: UnixMillis,
        in_flight: &BTreeMap<PublicKey, u32>,
    ) -> Result<BTreeMap<JobCategory, usize>, StoreError> {
        let min_stake = self.supernet.economics.min_stake;
        let mut budget: BTreeMap<JobCategory, usize> = BTreeMap::new();
        for (key, avail) in self.live_provers(now) {
            let allowed = self.allows(key);
            let staked = self
                .store
                .account(key)?
                .is_some_and(|a| a.stake >= min_stake);
            if !allowed || !staked {
                continue;
            }
            let free = avail
                .payload
                .capacity
                .saturating_sub(in_flight.get(key).copied().unwrap_or(0));
            for category in &avail.payload.categories {
                *budget.entry(*category).or_default() += free as usize;
            }
        }
        for book in self.books.values() {
            for spec in &book.batch().jobs {
                if let Some(n) = budget.get_mut(&spec.category) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        Ok(budget)
    }

    pub(super) fn announce(
        &mut self,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let max = self.supernet.auction.max_jobs_per_batch as usize;
        // Jobs each prover holds: read once, for the budget and for the weight table.
        let in_flight = self.in_flight()?;
        let mut budget = self.offer_budget(now, &in_flight)?;
        if budget.values().all(|n| *n == 0) {
            return Ok(());
        }
        let commit_deadline = now + self.supernet.auction.commit_window_ms;
        let reveal_deadline = commit_deadline + self.supernet.auction.reveal_window_ms;
        // The proving window each job can be given: its category's, cut to what its task's
        // deadline leaves after the auction; none (not offered) below the minimum share.
        let supernet = self.supernet.clone();
        let store = &self.store;
        let mut task_deadlines: BTreeMap<TaskId, Option<UnixMillis>> = BTreeMap::new();
        let mut read_error = None;
        let mut window_of = |j: &JobRecord| -> Option<u64> {
            let full = supernet.category(j.category)?.proving_deadline_ms;
            let deadline = (*task_deadlines.entry(j.id.task).or_insert_with(|| {
                match store.task(&j.id.task) {
                    Ok(t) => t.filter(|t| !t.status.is_final()).map(|t| t.deadline),
                    Err(e) => {
                        read_error.get_or_insert(e);
                        None
                    }
                }
            }))?;
            let left = deadline.saturating_sub(reveal_deadline);
            let least = (full.saturating_mul(MIN_PROVING_PERCENT) / 100).max(1);
            (left >= least).then_some(left.min(full))
        };
        let mut windows = BTreeMap::new();
        // Look past jobs of a category nobody has room for (or whose task's deadline is too
        // near), so they do not hold back one that somebody can take.
        let jobs = self.store.open_jobs_where(OFFER_SCAN, max, |j| {
            match budget.get_mut(&j.category) {
                Some(n) if *n > 0 => {}
                _ => return false,
            }
            let Some(window) = window_of(j) else {
                return false;
            };
            if let Some(n) = budget.get_mut(&j.category) {
                *n -= 1;
            }
            windows.insert(j.id, window);
            true
        })?;
        if let Some(e) = read_error {
            return Err(e);
        }
        if jobs.is_empty() {
            return Ok(());
        }
        self.beat_if_later(now)?;
        let weights = self.slot_weights(now, &in_flight)?;
        let seq = self.store.next_batch_seq()?;
        let specs = jobs
            .iter()
            .map(|j| JobSpec {
                job_id: j.id,
                circuit: j.circuit.clone(),
                category: j.category,
                reserve_price: j.reserve_price,
                proving_window_ms: windows.get(&j.id).copied().unwrap_or(0),
                input_digest: j.input_digest,
                input_size: j.input_size,
            })
            .collect();
        let batch = Signed::sign(
            BatchAnnouncement {
                supernet: self.supernet.id.clone(),
                batch_id: BatchId::derive(&self.supernet.id, &self.key.public(), seq),
                seq,
                jobs: specs,
                announced_at: now,
                commit_deadline,
                reveal_deadline,
                weights: weights.root(),
            },
            &self.key,
        );
        let book = match BidBook::new(&batch, weights) {
            Ok(book) => book.with_reveal_grace(self.supernet.auction.reveal_grace_ms),
            Err(e) => {
                warn!(error = %e, "no book for the batch; its jobs stay open");
                return Ok(());
            }
        };
        self.store.offer_batch(&batch, now)?;
        self.metrics.batch();
        info!(batch_id = %batch.payload.batch_id, jobs = jobs.len(), "batch announced");
        let tasks: BTreeSet<TaskId> = jobs
            .iter()
            .filter(|j| j.auctions == 0)
            .map(|j| j.id.task)
            .collect();
        out.extend(tasks.into_iter().map(Output::TaskChanged));
        self.books.insert(batch.payload.batch_id, book);
        out.push(Output::Publish(GossipMessage::Batch(batch)));
        Ok(())
    }

    /// Puts a commit or reveal whose signature has been checked into its batch's book and,
    /// if the book takes it, into the store. The inner result says why a bid was refused.
    /// A second, different commit from one prover is refused and kept as evidence. `arrived`
    /// is when the bid reached the gateway; a commit that comes after the batch's closed set
    /// was signed is refused whenever it arrived, so the award never counts a commit the
    /// signed set left out.
    pub(super) fn accept_bid(
        &mut self,
        bid: GossipMessage,
        arrived: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<Result<(), String>, StoreError> {
        let no_auction = || Err("no open auction for this batch".to_string());
        match bid {
            GossipMessage::Commit(c) => {
                let Some(book) = self.books.get_mut(&c.payload.batch_id) else {
                    return Ok(no_auction());
                };
                if self.misbehavior.omit_commits_of == Some(c.signer) {
                    return Ok(Ok(()));
                }
                if self.closed.contains(&c.payload.batch_id) {
                    return Ok(Err("the batch's commit set is already closed".into()));
                }
                // Only staked provers fill the batch's commit slots.
                let min_stake = self.supernet.economics.min_stake;
                let stake = self.store.account(&c.signer)?.map_or(0, |a| a.stake);
                if stake < min_stake || stake == 0 {
                    self.metrics.bid(false, false);
                    return Ok(Err(format!(
                        "stake {stake} is below the minimum {min_stake}: no commit taken"
                    )));
                }
                // The strict signature check, whatever checked the message before: only a
                // bid every auditor accepts the same way goes into a transcript.
                let accepted = book.accept_commit(c.clone(), arrived);
                self.metrics.bid(false, accepted.is_ok());
                match accepted {
                    Ok(evicted) => {
                        // A full batch keeps its best-ranked commits: one of worse rank left.
                        if let Some(out) = evicted {
                            debug!(batch_id = %c.payload.batch_id, peer = %out, "commit outranked");
                            self.store.remove_commit(&c.payload.batch_id, &out)?;
                        }
                        self.store.put_commit(&c).map(Ok)
                    }
                    Err(e @ BidError::Duplicate(_)) => {
                        let held = book.commit_of(&c.signer).cloned();
                        if let Some(evidence) =
                            held.and_then(|held| Equivocation::new(held, c).ok())
                        {
                            warn!(
                                batch_id = %evidence.first.payload.batch_id,
                                peer = %evidence.first.signer,
                                "prover equivocated: a second, different commit for one batch"
                            );
                            self.metrics.equivocation();
                            out.push(Output::Equivocation {
                                evidence: Box::new(evidence),
                                dir: self.evidence_dir.clone(),
                            });
                        }
                        Ok(Err(e.to_string()))
                    }
                    Err(e) => Ok(Err(e.to_string())),
                }
            }
            GossipMessage::Reveal(r) => {
                let Some(book) = self.books.get_mut(&r.payload.batch_id) else {
                    return Ok(no_auction());
                };
                if self.misbehavior.drop_reveals_of == Some(r.signer) {
                    return Ok(Ok(()));
                }
                let accepted = book.accept_reveal(r.clone(), arrived);
                self.metrics.bid(true, accepted.is_ok());
                match accepted {
                    Ok(()) => self.store.put_reveal(&r).map(Ok),
                    Err(e) => Ok(Err(e.to_string())),
                }
            }
            _ => Ok(Err("not a bid".into())),
        }
    }

    /// Signs, stores and publishes the closed commit set of an open batch.
    pub(super) fn close_commits(
        &mut self,
        id: &BatchId,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(book) = self.books.get(id) else {
            return Ok(());
        };
        let mut set = book.closed_set();
        if let Some(late) = self.misbehavior.late_commit_of
            && let Some(commit) = book.commits().iter().find(|c| c.signer == late)
        {
            set.commits.retain(|d| *d != commit.digest());
        }
        let closed = Signed::sign(set, &self.key);
        self.store.close_commits(&closed)?;
        self.closed.insert(*id);
        debug!(batch_id = %id, commits = closed.payload.commits.len(), "commits closed");
        out.push(Output::Publish(GossipMessage::CommitsClosed(closed)));
        Ok(())
    }

    /// The eligibility snapshot for `batch`: standing of every live prover (the award's
    /// own keeps the committers'), and the provers barred from each job. A job that left
    /// the auction while it ran (its task ended) is listed once as cancelled, barred to
    /// everyone, so the rule itself leaves it unawarded and any peer recomputing the award
    /// agrees (and the transcript does not grow with the number of provers).
    fn eligibility(
        &self,
        batch: &BatchAnnouncement,
        now: UnixMillis,
    ) -> Result<Eligibility, StoreError> {
        let in_flight = self.in_flight()?;
        let mut provers = BTreeMap::new();
        for (key, avail) in self.live_provers(now) {
            let stake = self.store.account(key)?.map_or(0, |a| a.stake);
            let allowlisted = self.allows(key);
            // Every job a prover holds at once is backed by the minimum stake.
            let capacity = avail
                .payload
                .capacity
                .min(backed_slots(stake, self.supernet.economics.min_stake));
            provers.insert(
                *key,
                ProverStanding {
                    allowlisted,
                    stake,
                    free_capacity: capacity
                        .saturating_sub(in_flight.get(key).copied().unwrap_or(0)),
                    categories: avail.payload.categories.iter().copied().collect(),
                    announcement: avail.digest(),
                },
            );
        }
        if let Some((prover, room)) = self.misbehavior.inflate_capacity_of
            && let Some(standing) = provers.get_mut(&prover)
        {
            standing.free_capacity = room;
        }
        let mut excluded = BTreeMap::new();
        let mut cancelled = BTreeSet::new();
        for spec in &batch.jobs {
            let Some(job) = self.store.job(&spec.job_id)? else {
                continue;
            };
            if job.state
                != (JobState::Auctioning {
                    batch: batch.batch_id,
                })
            {
                cancelled.insert(spec.job_id);
            } else if !job.excluded.is_empty() {
                excluded.insert(spec.job_id, job.excluded);
            }
        }
        Ok(Eligibility {
            min_stake: self.supernet.economics.min_stake,
            provers,
            excluded,
            cancelled,
            weights: BTreeMap::new(),
        })
    }

    pub(super) fn award(
        &mut self,
        book: BidBook,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let batch = book.batch().clone();
        self.beat_if_later(now)?;
        // The gateway judges reserves and silence against every live prover; the award (and
        // so the transcript every bidder audits) needs only the committers' standings, with
        // the weights their slots were ranked by: its size follows the commits, not the
        // network.
        let everyone = self.eligibility(&batch, now)?;
        let eligibility = Eligibility {
            provers: everyone
                .provers
                .iter()
                .filter(|(k, _)| book.commit_of(k).is_some())
                .map(|(k, s)| (*k, s.clone()))
                .collect(),
            weights: book.committer_weights(),
            min_stake: everyone.min_stake,
            excluded: everyone.excluded.clone(),
            cancelled: everyone.cancelled.clone(),
        };
        let award = match book.award(&eligibility) {
            Ok(a) => a,
            Err(e) => {
                // The book only holds checked, unique bids, so this is a bug; re-auction.
                warn!(batch_id = %batch.batch_id, error = %e, "award failed; reopening jobs");
                lagrange_protocol::auction::Award {
                    awarded: vec![],
                    unawarded: batch.jobs.iter().map(|j| j.job_id).collect(),
                    non_revealers: vec![],
                    transcript_hash: Digest([0; 32]),
                }
            }
        };
        self.watch_for_silence(&book, &everyone, &batch);
        let able = |s: &ProverStanding, category: Option<JobCategory>| {
            s.allowlisted
                && s.stake >= eligibility.min_stake
                && category.is_some_and(|c| s.categories.contains(&c))
        };
        // Room each eligible prover has left once this batch's awards are counted.
        let mut room: BTreeMap<PublicKey, u32> = everyone
            .provers
            .iter()
            .map(|(k, s)| (*k, s.free_capacity))
            .collect();
        // The lowest price revealed for each job.
        let mut lowest_bid: BTreeMap<JobId, Price> = BTreeMap::new();
        for r in book.reveals() {
            for b in &r.payload.bids {
                let p = lowest_bid.entry(b.job_id).or_insert(b.price);
                *p = (*p).min(b.price);
            }
        }
        let mut outcomes = Vec::new();
        for won in &award.awarded {
            if let Some(n) = room.get_mut(&won.prover) {
                *n = n.saturating_sub(1);
            }
            let window = batch.job(&won.job_id).map_or(0, |s| s.proving_window_ms);
            // The assignment never outlives its task: a task cannot fail while a prover
            // still has time under the gateway's word.
            let task_deadline = self
                .store
                .task(&won.job_id.task)?
                .map_or(UnixMillis::MAX, |t| t.deadline);
            self.unplaced.remove(&won.job_id);
            outcomes.push(AwardOutcome::Assigned {
                job: won.job_id,
                prover: won.prover,
                price: won.price,
                deadline: now.saturating_add(window).min(task_deadline),
            });
            info!(
                batch_id = %batch.batch_id,
                job_id = %won.job_id,
                peer = %won.prover,
                price = won.price,
                "job awarded"
            );
        }
        for job in &award.unawarded {
            let task = self.store.task(&job.task)?;
            let live = task.as_ref().is_some_and(|t| !t.status.is_final());
            let max_fee = task.map_or(0, |t| t.max_fee_per_job);
            let current = batch.job(job).map_or(0, |s| s.reserve_price);
            let category = batch.job(job).map(|s| s.category);
            let barred = eligibility.excluded.get(job);
            // Raise the reserve only if a prover able to take the job had room left and
            // still did not win it: its price was too high. A job that waits for a busy
            // prover keeps its price.
            let priced_out = everyone.provers.iter().any(|(p, s)| {
                able(s, category)
                    && room.get(p).is_some_and(|n| *n > 0)
                    && !barred.is_some_and(|b| b.contains(p))
            });
            let next_reserve = if priced_out {
                raise(current).min(max_fee).max(current)
            } else {
                current
            };
            // Once a prover bid within the reserve, the price is not the problem (a reserve
            // only rises).
            let bid_within = lowest_bid.get(job).is_some_and(|p| *p <= current)
                || matches!(
                    self.unplaced.get(job),
                    Some(Unplaced::NoRoom { bid_within: true })
                );
            if live {
                self.unplaced.insert(
                    *job,
                    if priced_out && !bid_within {
                        Unplaced::Priced {
                            reserve: next_reserve,
                        }
                    } else {
                        Unplaced::NoRoom { bid_within }
                    },
                );
            }
            // A job every prover that could take it has failed once would never be awarded
            // again: lift its bars. Those provers were slashed already, and stake below
            // the minimum keeps a repeat offender out for good.
            let lift_bars = barred.is_some_and(|barred| {
                everyone
                    .provers
                    .iter()
                    .filter(|(_, s)| able(s, category))
                    .all(|(p, _)| barred.contains(p))
            });
            outcomes.push(AwardOutcome::Unawarded {
                job: *job,
                next_reserve,
                lift_bars,
            });
        }
        for prover in &award.non_revealers {
            warn!(batch_id = %batch.batch_id, peer = %prover, "committed without revealing");
        }
        self.metrics.auction(
            award.awarded.len(),
            award.unawarded.len(),
            award.non_revealers.len(),
        );
        let result = Signed::sign(AuctionResult::new(&batch, award), &self.key);
        self.store.record_award(
            &result,
            &eligibility,
            &outcomes,
            self.supernet.economics.non_reveal_penalty,
            now,
        )?;
        for won in &result.payload.award.awarded {
            if let Some(job) = self.store.job(&won.job_id)? {
                if let JobState::Assigned { deadline, .. } = job.state {
                    self.deadlines.add(deadline, Due::Job(job.id));
                }
                out.extend(self.assign(&job));
            }
        }
        let tasks: BTreeSet<TaskId> = batch.jobs.iter().map(|j| j.job_id.task).collect();
        out.extend(tasks.into_iter().map(Output::TaskChanged));
        out.push(Output::Publish(GossipMessage::Result(result)));
        Ok(())
    }

    /// Warns when batch after batch draws no commit although provers with room are known:
    /// the provers are probably not reaching this gateway (or it them).
    fn watch_for_silence(
        &mut self,
        book: &BidBook,
        eligibility: &Eligibility,
        batch: &BatchAnnouncement,
    ) {
        let someone_had_room = eligibility.provers.values().any(|s| {
            s.allowlisted
                && s.stake >= eligibility.min_stake
                && s.free_capacity > 0
                && batch
                    .jobs
                    .iter()
                    .any(|j| s.categories.contains(&j.category))
        });
        if !book.commits().is_empty() || !someone_had_room {
            self.quiet_batches = 0;
            return;
        }
        self.quiet_batches += 1;
        if self.quiet_batches.is_multiple_of(QUIET_BATCHES_WARNING) {
            warn!(
                batch_id = %batch.batch_id,
                batches = self.quiet_batches,
                provers = eligibility.provers.len(),
                "batches draw no bids although provers with room are known: are they reaching this gateway?"
            );
        }
    }
}

/// A reserve raised by [`RESERVE_RAISE_PERCENT`], rounded up, saturating at `u64::MAX`.
fn raise(current: Price) -> Price {
    let raised = (u128::from(current) * u128::from(100 + RESERVE_RAISE_PERCENT)).div_ceil(100);
    u64::try_from(raised).unwrap_or(u64::MAX)
}
