//! The sled store: durability across reopen, pay-at-most-once, slashing and replayable events.

use std::collections::BTreeSet;

use lagrange_node::store::{AwardOutcome, NewJob, ProofRecord, Store, StoreError};

use lagrange_node::model::{JobRecord, JobState, TaskEventKind, TaskRecord, TaskSpec, TaskStatus};
use lagrange_protocol::auction::{Award, Eligibility};
use lagrange_protocol::messages::{AuctionResult, BatchAnnouncement, JobSpec};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Signed, SupernetId, TaskId,
};

fn supernet() -> SupernetId {
    SupernetId::new("store").unwrap()
}

fn task(id: u8, jobs: u32) -> (TaskRecord, Vec<NewJob>) {
    let tid = TaskId([id; 16]);
    let record = TaskRecord {
        id: tid,
        supernet: supernet(),
        spec: TaskSpec::Synthetic {
            jobs,
            category: JobCategory::Small,
        },
        max_fee_per_job: 500,
        deadline: 100_000,
        created_at: 10,
        jobs,
        status: TaskStatus::Proving,
        events: 0,
        verified: 0,
        fees: 0,
    };
    let jobs = (0..jobs)
        .map(|i| NewJob {
            record: JobRecord {
                id: JobId::new(tid, i),
                circuit: CircuitId::new("synthetic.small").unwrap(),
                category: JobCategory::Small,
                input_digest: Digest([i as u8; 32]),
                input_size: 3,
                reserve_price: 100,
                state: JobState::Open,
                auctions: 0,
                excluded: BTreeSet::new(),
            },
            input: vec![i as u8; 3],
        })
        .collect();
    (record, jobs)
}

fn gateway() -> Keypair {
    Keypair::insecure_from_seed(100)
}

fn batch(store: &Store, jobs: &[JobRecord]) -> Signed<BatchAnnouncement> {
    let seq = store.next_batch_seq().unwrap();
    Signed::sign(
        BatchAnnouncement {
            supernet: supernet(),
            batch_id: BatchId::derive(&supernet(), &gateway().public(), seq),
            seq,
            jobs: jobs
                .iter()
                .map(|j| JobSpec {
                    job_id: j.id,
                    circuit: j.circuit.clone(),
                    category: j.category,
                    reserve_price: j.reserve_price,
                    proving_window_ms: 1000,
                    input_digest: j.input_digest,
                    input_size: j.input_size,
                })
                .collect(),
            announced_at: 20,
            commit_deadline: 30,
            reveal_deadline: 40,
            weights: lagrange_protocol::merkle::WeightTree::empty().root(),
        },
        &gateway(),
    )
}

fn result(
    b: &Signed<BatchAnnouncement>,
    non_revealers: Vec<lagrange_protocol::PublicKey>,
) -> Signed<AuctionResult> {
    Signed::sign(
        AuctionResult::new(
            &b.payload,
            Award {
                awarded: vec![],
                unawarded: vec![],
                non_revealers,
                transcript_hash: Digest([0; 32]),
            },
        ),
        &gateway(),
    )
}

#[test]
fn tasks_survive_reopen_and_resume_where_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let (t, jobs) = task(1, 3);
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_task(&t, None, &jobs).unwrap();
        let b = batch(&store, &store.open_jobs(2).unwrap());
        store.offer_batch(&b, 20).unwrap();
        // Dropped without a clean shutdown.
    }
    let store = Store::open(dir.path()).unwrap();
    let unfinished = store.unfinished_tasks().unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].id, t.id);
    let jobs = store.jobs_of(&t.id).unwrap();
    assert!(matches!(jobs[0].state, JobState::Auctioning { .. }));
    assert!(matches!(jobs[1].state, JobState::Auctioning { .. }));
    assert_eq!(jobs[2].state, JobState::Open);
    assert_eq!(store.open_jobs(10).unwrap().len(), 1);
    assert_eq!(store.input(&jobs[2].id).unwrap().unwrap(), vec![2u8; 3]);
    let events = store.events(&t.id, 0).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].kind, TaskEventKind::Submitted { jobs: 3 });
    assert_eq!(store.events(&t.id, 2).unwrap().len(), 1);
    // Batch sequence numbers never repeat across restarts.
    assert_eq!(store.next_batch_seq().unwrap(), 2);
}

#[test]
fn a_job_is_paid_at_most_once_and_only_to_its_winner() {
    let store = Store::temporary().unwrap();
    let (t, jobs) = task(2, 2);
    store.create_task(&t, None, &jobs).unwrap();
    let winner = Keypair::insecure_from_seed(1).public();
    let other = Keypair::insecure_from_seed(2).public();
    store.ensure_account(&winner, 1000).unwrap();
    let b = batch(&store, &store.open_jobs(10).unwrap());
    store.offer_batch(&b, 20).unwrap();
    let job = jobs[0].record.id;
    store
        .record_award(
            &result(&b, vec![]),
            &Eligibility::default(),
            &[
                AwardOutcome::Assigned {
                    job,
                    prover: winner,
                    price: 42,
                    deadline: 1000,
                },
                AwardOutcome::Unawarded {
                    job: jobs[1].record.id,
                    next_reserve: 150,
                    lift_bars: false,
                },
            ],
            10,
            41,
        )
        .unwrap();
    assert_eq!(
        store
            .job(&jobs[1].record.id)
            .unwrap()
            .unwrap()
            .reserve_price,
        150
    );

    let proof = |prover| ProofRecord {
        prover,
        proof: vec![1, 2, 3],
        public_inputs: vec![4],
    };
    assert!(matches!(
        store.credit_proof(&job, &proof(other), 50),
        Err(StoreError::NotAssigned { .. })
    ));
    assert_eq!(store.credit_proof(&job, &proof(winner), 50).unwrap(), 42);
    assert!(matches!(
        store.credit_proof(&job, &proof(winner), 51),
        Err(StoreError::NotAssigned { .. })
    ));
    let account = store.account(&winner).unwrap().unwrap();
    assert_eq!(account.balance, 42);
    assert_eq!(account.jobs_paid, 1);
    assert_eq!(store.proof(&job).unwrap().unwrap(), proof(winner));
}

#[test]
fn failed_jobs_slash_exclude_and_reopen() {
    let store = Store::temporary().unwrap();
    let (t, jobs) = task(3, 1);
    store.create_task(&t, None, &jobs).unwrap();
    let lazy = Keypair::insecure_from_seed(1).public();
    let silent = Keypair::insecure_from_seed(3).public();
    store.ensure_account(&lazy, 1000).unwrap();
    store.ensure_account(&silent, 1000).unwrap();
    store.ensure_account(&lazy, 5).unwrap(); // never resets an account
    let b = batch(&store, &store.open_jobs(10).unwrap());
    store.offer_batch(&b, 20).unwrap();
    let job = jobs[0].record.id;
    store
        .record_award(
            &result(&b, vec![silent]),
            &Eligibility::default(),
            &[AwardOutcome::Assigned {
                job,
                prover: lazy,
                price: 42,
                deadline: 1000,
            }],
            10,
            41,
        )
        .unwrap();
    assert_eq!(store.account(&silent).unwrap().unwrap().stake, 990);
    assert_eq!(store.assigned_jobs().unwrap().len(), 1);

    store
        .fail_job(&job, &lazy, 100, "deadline missed", 1001)
        .unwrap();
    let rec = store.job(&job).unwrap().unwrap();
    assert_eq!(rec.state, JobState::Open);
    assert!(rec.excluded.contains(&lazy));
    let account = store.account(&lazy).unwrap().unwrap();
    assert_eq!(
        (account.stake, account.slashed, account.balance),
        (900, 100, 0)
    );
    // A late proof from the failed prover earns nothing.
    let late = ProofRecord {
        prover: lazy,
        proof: vec![],
        public_inputs: vec![],
    };
    assert!(store.credit_proof(&job, &late, 1002).is_err());
    assert!(store.fail_job(&job, &lazy, 100, "again", 1003).is_err());
    let kinds: Vec<_> = store
        .events(&t.id, 0)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(matches!(kinds.last(), Some(TaskEventKind::Failed { .. })));

    // Unawarded in its next auctions: the bar stands until the gateway says every prover
    // able to take the job is barred; then it is lifted, so the job can still be proven.
    for (lift_bars, at) in [(false, 1100), (true, 1300)] {
        let again = batch(&store, &store.open_jobs(10).unwrap());
        store.offer_batch(&again, at).unwrap();
        store
            .record_award(
                &result(&again, vec![]),
                &Eligibility::default(),
                &[AwardOutcome::Unawarded {
                    job,
                    next_reserve: 600,
                    lift_bars,
                }],
                10,
                at + 100,
            )
            .unwrap();
        let rec = store.job(&job).unwrap().unwrap();
        assert_eq!((rec.state, rec.reserve_price), (JobState::Open, 600));
        assert_eq!(rec.excluded.is_empty(), lift_bars);
    }
}

#[test]
fn job_counts_follow_every_state_change_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (t, jobs) = task(9, 3);
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.job_counts().unwrap().open, 0);
        store.create_task(&t, None, &jobs).unwrap();
        let b = batch(&store, &store.open_jobs(2).unwrap());
        store.offer_batch(&b, 20).unwrap();
        let c = store.job_counts().unwrap();
        assert_eq!((c.open, c.auctioning, c.assigned), (1, 2, 0));
    }
    let store = Store::open(dir.path()).unwrap();
    let c = store.job_counts().unwrap();
    assert_eq!((c.open, c.auctioning), (1, 2));
    store.fail_task(&t.id, "gave up", 50).unwrap();
    let c = store.job_counts().unwrap();
    let total = c.open + c.auctioning + c.assigned + c.verified + c.cancelled;
    assert_eq!(total, 3);
    let by_scan = store
        .jobs_of(&t.id)
        .unwrap()
        .iter()
        .filter(|j| j.state == JobState::Cancelled)
        .count() as u64;
    assert_eq!(c.cancelled, by_scan);
}

#[test]
fn tasks_complete_or_fail_with_a_reason() {
    let store = Store::temporary().unwrap();
    let (t1, j1) = task(4, 1);
    let (t2, j2) = task(5, 2);
    store.create_task(&t1, None, &j1).unwrap();
    store.create_task(&t2, None, &j2).unwrap();
    store.complete_task(&t1.id, b"result", 60).unwrap();
    store.fail_task(&t2.id, "deadline passed", 70).unwrap();
    assert_eq!(store.result(&t1.id).unwrap().unwrap(), b"result");
    assert_eq!(
        store.task(&t1.id).unwrap().unwrap().status,
        TaskStatus::Done
    );
    assert!(matches!(
        store.task(&t2.id).unwrap().unwrap().status,
        TaskStatus::Failed { .. }
    ));
    // The failed task's jobs leave the open index; nothing of it is auctioned again.
    assert!(
        store
            .open_jobs(10)
            .unwrap()
            .iter()
            .all(|j| j.id.task != t2.id)
    );
    assert!(
        store
            .jobs_of(&t2.id)
            .unwrap()
            .iter()
            .all(|j| j.state == JobState::Cancelled)
    );
    assert!(store.unfinished_tasks().unwrap().is_empty());
    assert!(store.size_on_disk().unwrap() > 0);
}

#[test]
fn a_store_in_use_is_refused_with_a_clear_error_and_opens_once_released() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Locked(path)) => assert!(path.contains(&*dir.path().to_string_lossy())),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    drop(first);
    // The closing handle's flusher lets go within a flush interval; open waits for it.
    Store::open(dir.path()).unwrap();
}

#[test]
fn a_query_tasks_rows_are_kept_apart_from_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, jobs) = task(9, 2);
    let rows: Vec<(u64, u64)> = (0..65_536).map(|i| (i, i * 3)).collect();
    t.spec = TaskSpec::Query {
        rows: rows.clone(),
        lo: 1,
        hi: 9,
        category: JobCategory::Small,
    };
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_task(&t, t.spec.rows_apart(), &jobs).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    // The record, read on every tick and rewritten on every event, holds no rows...
    let record = store.task(&t.id).unwrap().unwrap();
    assert!(matches!(&record.spec, TaskSpec::Query { rows, lo: 1, hi: 9, .. } if rows.is_empty()));
    // ...and the whole spec comes back with them, across a restart.
    assert_eq!(store.task_spec(&t.id).unwrap(), Some(t.spec.clone()));
    assert_eq!(store.unfinished_tasks().unwrap()[0].spec, record.spec);
}

#[test]
fn pruning_removes_a_finished_task_whole_keeps_live_ones_and_spares_running_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (done, done_jobs) = task(20, 2);
    let (failed, failed_jobs) = task(21, 1);
    let (live, live_jobs) = task(22, 1);
    for (t, j) in [
        (&done, &done_jobs),
        (&failed, &failed_jobs),
        (&live, &live_jobs),
    ] {
        store.create_task(t, None, j).unwrap();
    }
    let old = batch(&store, &store.open_jobs(1).unwrap());
    store.offer_batch(&old, 20).unwrap();
    let running = batch(&store, &store.open_jobs(1).unwrap());
    store.offer_batch(&running, 20).unwrap();
    store.complete_task(&done.id, b"result", 60).unwrap();
    store.fail_task(&failed.id, "deadline passed", 70).unwrap();
    let keep: BTreeSet<BatchId> = [running.payload.batch_id].into();

    // Before the cutoff: nothing of the task that finished at 60 is left, in any tree.
    let pruned = store.prune(65, 65, &keep, 10).unwrap();
    assert_eq!((pruned.tasks, pruned.batches), (1, 1));
    assert!(store.task(&done.id).unwrap().is_none());
    assert!(store.result(&done.id).unwrap().is_none());
    assert!(store.jobs_of(&done.id).unwrap().is_empty());
    assert!(store.events(&done.id, 0).unwrap().is_empty());
    for j in &done_jobs {
        assert!(store.input(&j.record.id).unwrap().is_none());
        assert!(store.job(&j.record.id).unwrap().is_none());
    }
    assert!(store.batch(&old.payload.batch_id).unwrap().is_none());
    // The task that failed later, the live one and the running auction are all there.
    assert!(store.task(&failed.id).unwrap().is_some());
    assert!(store.task(&live.id).unwrap().is_some());
    assert!(store.batch(&running.payload.batch_id).unwrap().is_some());
    // The per-state counts still match the jobs held.
    let all: Vec<JobRecord> = [&failed, &live]
        .iter()
        .flat_map(|t| store.jobs_of(&t.id).unwrap())
        .collect();
    let c = store.job_counts().unwrap();
    assert_eq!(
        c.open + c.auctioning + c.assigned + c.verified + c.cancelled,
        all.len() as u64
    );

    // What was pruned is counted, for audits that reconcile the ledger.
    let totals = store.pruned_totals().unwrap();
    assert_eq!((totals.tasks, totals.done), (1, 1));

    // However late the cutoff, a live task stays; a batch in `keep` too.
    let pruned = store.prune(u64::MAX, u64::MAX, &keep, 10).unwrap();
    assert_eq!((pruned.tasks, pruned.batches), (1, 0));
    let totals = store.pruned_totals().unwrap();
    assert_eq!((totals.tasks, totals.done), (2, 1));
    assert_eq!(store.unfinished_tasks().unwrap().len(), 1);
    assert!(store.task(&live.id).unwrap().is_some());
    assert!(store.batch(&running.payload.batch_id).unwrap().is_some());
    // Once it is no longer running, it goes too.
    let pruned = store
        .prune(u64::MAX, u64::MAX, &BTreeSet::new(), 10)
        .unwrap();
    assert_eq!((pruned.tasks, pruned.batches), (0, 1));
}

#[test]
fn pruning_goes_a_bounded_number_at_a_time_oldest_first() {
    let store = Store::temporary().unwrap();
    let ids: Vec<TaskId> = (30..35u8)
        .map(|i| {
            let (t, j) = task(i, 1);
            store.create_task(&t, None, &j).unwrap();
            // Finished in the reverse order of their ids.
            store
                .complete_task(&t.id, b"r", 1_000 - u64::from(i))
                .unwrap();
            t.id
        })
        .collect();
    let pruned = store.prune(u64::MAX, 0, &BTreeSet::new(), 2).unwrap();
    assert_eq!(pruned.tasks, 2);
    // The two that finished first are the two gone.
    let left: Vec<bool> = ids
        .iter()
        .map(|id| store.task(id).unwrap().is_some())
        .collect();
    assert_eq!(left, [true, true, true, false, false]);
    assert_eq!(
        store
            .prune(u64::MAX, 0, &BTreeSet::new(), 10)
            .unwrap()
            .tasks,
        3
    );
}

#[test]
fn a_store_written_before_retention_gets_its_finished_tasks_filed_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (t, j) = task(40, 1);
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_task(&t, None, &j).unwrap();
        store.complete_task(&t.id, b"r", 500).unwrap();
    }
    // As an older version left it: no expiry entries, no mark that they were made.
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("expiry").unwrap().clear().unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("expiry_indexed")
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    // Filed at its last event's time (500): not before it, but after.
    assert_eq!(store.prune(500, 0, &BTreeSet::new(), 10).unwrap().tasks, 0);
    assert_eq!(store.prune(501, 0, &BTreeSet::new(), 10).unwrap().tasks, 1);
    assert!(store.task(&t.id).unwrap().is_none());
}

#[test]
fn tasks_are_paged_newest_first_by_their_index_and_leave_it_when_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<TaskId> = {
        let store = Store::open(dir.path()).unwrap();
        (50..55u8)
            .map(|i| {
                let (mut t, j) = task(i, 1);
                // Created in the reverse order of their ids, two at the same moment.
                t.created_at = 1_000 - u64::from(i.min(53));
                store.create_task(&t, None, &j).unwrap();
                t.id
            })
            .collect()
    };
    // Newest first (54 and 53 share a time: the greater id first), and on from a cursor.
    let expect = [ids[0], ids[1], ids[2], ids[4], ids[3]];
    let store = Store::open(dir.path()).unwrap();
    let page = |after, limit| -> Vec<TaskId> {
        store
            .tasks_newest_first(after, limit)
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect()
    };
    assert_eq!(page(None, 10), expect);
    let first = store.tasks_newest_first(None, 2).unwrap();
    assert_eq!(first.iter().map(|t| t.id).collect::<Vec<_>>(), expect[..2]);
    let last = first.last().unwrap();
    assert_eq!(page(Some((last.created_at, last.id)), 2), expect[2..4]);
    let fourth = store.task(&expect[3]).unwrap().unwrap();
    assert_eq!(page(Some((fourth.created_at, fourth.id)), 2), expect[4..]);
    // A pruned task leaves the index.
    store.complete_task(&ids[0], b"r", 2_000).unwrap();
    assert_eq!(
        store
            .prune(u64::MAX, 0, &BTreeSet::new(), 10)
            .unwrap()
            .tasks,
        1
    );
    assert_eq!(page(None, 10), expect[1..]);
}

#[test]
fn a_store_written_before_the_age_index_gets_it_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (t, j) = task(60, 1);
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_task(&t, None, &j).unwrap();
    }
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("task_ages").unwrap().clear().unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("task ages indexed")
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let listed = store.tasks_newest_first(None, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, t.id);
}

#[test]
fn a_result_still_to_deliver_is_kept_until_its_delivery_ends_and_survives_reopen() {
    use lagrange_node::model::{Delivery, DeliveryState, TaskEventKind};
    let dir = tempfile::tempdir().unwrap();
    let (t, jobs) = task(21, 1);
    let to = Delivery {
        contract: [7; 20],
        source: None,
    };
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .create_task_delivered(&t, None, &jobs, Some(&to))
            .unwrap();
        store.complete_task(&t.id, b"result", 10).unwrap();
        store.flush_blocking().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let pending = store.pending_deliveries().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, t.id);
    assert_eq!(pending[0].1.to, to);
    // Pruning passes over it while its delivery is pending.
    let none = BTreeSet::new();
    assert_eq!(store.prune(u64::MAX, 0, &none, 10).unwrap().tasks, 0);
    assert!(store.task(&t.id).unwrap().is_some());
    assert_eq!(store.delivery_attempted(&t.id).unwrap(), 1);
    let event = TaskEventKind::Delivered {
        contract: to.contract,
        tx: Some([9; 32]),
        block: Some(3),
    };
    store
        .finish_delivery(
            &t.id,
            DeliveryState::Delivered {
                tx: Some([9; 32]),
                block: Some(3),
            },
            Some(event.clone()),
            20,
        )
        .unwrap();
    assert_eq!(store.events(&t.id, 0).unwrap().pop().unwrap().kind, event);
    assert!(store.pending_deliveries().unwrap().is_empty());
    // Ending it again changes nothing; the task is filed for pruning from its delivery.
    store
        .finish_delivery(&t.id, DeliveryState::Cancelled, None, 30)
        .unwrap();
    assert!(matches!(
        store.delivery(&t.id).unwrap().unwrap().state,
        DeliveryState::Delivered { .. }
    ));
    assert_eq!(store.prune(19, 0, &none, 10).unwrap().tasks, 0);
    assert_eq!(store.prune(21, 0, &none, 10).unwrap().tasks, 1);
    assert!(store.delivery(&t.id).unwrap().is_none());
}
