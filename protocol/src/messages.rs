//! The wire messages of the proving flow, in the order they appear in a task's life.
//!
//! Signed messages ([`crate::Signed`]) carry authority: an announcement, a bid, an award, a
//! verdict. Requests and responses ([`Request`], [`Response`]) only move data between two
//! peers that the transport has already authenticated, and carry signed messages inside where
//! authority matters. `docs/protocol.md` describes each one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::bytes::byte_newtype;
use crate::category::JobCategory;
use crate::ids::{BatchId, CircuitId, JobId, SupernetId};
use crate::keys::PublicKey;
use crate::merkle::{Node, SlotWeight};
use crate::signed::{MessageKind, Signed, SignedPayload};
use crate::{Digest, Price, UnixMillis};

/// Most jobs one batch may carry. Keeps announcements well inside a gossip frame.
pub const MAX_JOBS_PER_BATCH: usize = 512;

/// Most assignments one [`Response::Assignments`] carries.
pub const MAX_ASSIGNMENTS: usize = 256;

/// Longest free-text field (versions, hardware descriptions, reasons), in bytes.
pub const MAX_TEXT_LEN: usize = 256;

/// Most commits a gateway accepts in one batch. Bounds the closed set, the transcript and
/// the result's list of non-revealers, whatever a flood of keys sends.
pub const MAX_COMMITS_PER_BATCH: usize = 128;

byte_newtype!(
    /// The random 32-byte salt that hides a bid vector inside its commitment.
    Salt,
    32
);

/// One job offered in a batch: what to prove, its size class and the most the gateway pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job.
    pub job_id: JobId,
    /// The circuit that proves it.
    pub circuit: CircuitId,
    /// Its size class.
    pub category: JobCategory,
    /// The highest price the gateway accepts for it.
    pub reserve_price: Price,
    /// How long the winner has, from assignment, to submit a valid proof.
    pub proving_window_ms: u64,
    /// blake3 digest of the job's input, which the winner fetches after the award.
    pub input_digest: Digest,
    /// Size of that input in bytes.
    pub input_size: u64,
}

/// Gossiped by a gateway every batch interval: the jobs on offer and the auction's windows.
///
/// Commits are accepted until `commit_deadline`, reveals after it and until
/// `reveal_deadline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnnouncement {
    /// The Supernet the batch is for.
    pub supernet: SupernetId,
    /// The batch, see [`BatchId::derive`].
    pub batch_id: BatchId,
    /// The gateway's batch sequence number the id was derived from.
    pub seq: u64,
    /// The jobs, sorted by id, each at most once.
    pub jobs: Vec<JobSpec>,
    /// When the batch was announced.
    pub announced_at: UnixMillis,
    /// Last moment a commit is accepted.
    pub commit_deadline: UnixMillis,
    /// Last moment a reveal is accepted.
    pub reveal_deadline: UnixMillis,
    /// The root of the weight table the batch's commit slots are ranked with
    /// ([`crate::sortition`]): the live, eligible provers' weights when it was announced.
    pub weights: Node,
}

/// A structural fault in a message that decoded and verified but breaks a protocol rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A batch with no jobs.
    #[error("batch has no jobs")]
    EmptyBatch,
    /// A batch with more than [`MAX_JOBS_PER_BATCH`] jobs.
    #[error("batch has {0} jobs, more than the limit of {MAX_JOBS_PER_BATCH}")]
    TooManyJobs(usize),
    /// Jobs (or bids) not sorted by job id, or listed twice.
    #[error("jobs are not sorted by id or contain duplicates (at {0})")]
    UnsortedJobs(JobId),
    /// Deadlines out of order.
    #[error("deadlines must satisfy announced_at < commit_deadline < reveal_deadline")]
    DeadlineOrder,
    /// A text field longer than [`MAX_TEXT_LEN`].
    #[error("field {0} is longer than {MAX_TEXT_LEN} bytes")]
    TextTooLong(&'static str),
    /// A zero where a positive number is required.
    #[error("field {0} must be positive")]
    Zero(&'static str),
}

impl BatchAnnouncement {
    /// Checks the announcement's own rules: jobs present, sorted and unique, deadlines in
    /// order.
    pub fn validate(&self) -> Result<(), MessageError> {
        if self.jobs.is_empty() {
            return Err(MessageError::EmptyBatch);
        }
        if self.jobs.len() > MAX_JOBS_PER_BATCH {
            return Err(MessageError::TooManyJobs(self.jobs.len()));
        }
        for pair in self.jobs.windows(2) {
            if pair[0].job_id >= pair[1].job_id {
                return Err(MessageError::UnsortedJobs(pair[1].job_id));
            }
        }
        if !(self.announced_at < self.commit_deadline
            && self.commit_deadline < self.reveal_deadline)
        {
            return Err(MessageError::DeadlineOrder);
        }
        Ok(())
    }

    /// The spec of `job`, if the batch offers it.
    pub fn job(&self, job: &JobId) -> Option<&JobSpec> {
        self.jobs
            .binary_search_by(|spec| spec.job_id.cmp(job))
            .ok()
            .map(|i| &self.jobs[i])
    }
}

/// A prover's sealed bid for a whole batch: a commitment to its bid vector and a salt, see
/// [`crate::commit::commit_bids`]. One per prover per batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidCommit {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch bid on.
    pub batch_id: BatchId,
    /// The commitment.
    pub commitment: Digest,
}

/// One price for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Bid {
    /// The job.
    pub job_id: JobId,
    /// The price the prover asks to be paid for proving it.
    pub price: Price,
}

/// Opens a [`BidCommit`]: the bid vector (sorted by job id, one bid per job) and the salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidReveal {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch bid on.
    pub batch_id: BatchId,
    /// The bids, sorted by job id, each job at most once.
    pub bids: Vec<Bid>,
    /// The salt used in the commitment.
    pub salt: Salt,
}

/// Gossiped by the gateway once a batch is awarded. Anyone holding the batch, commits and
/// reveals can check it with [`crate::auction::verify_award`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionResult {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch awarded.
    pub batch_id: BatchId,
    /// The award, with its transcript hash.
    pub award: Award,
}

/// Signed and gossiped by the gateway when a batch's commit window closes: the digests
/// ([`Signed::digest`]) of every commit it accepted, sorted. From then on the set is fixed:
/// a reveal that opens one of these commits must be counted, and no other commit may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitsClosed {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch.
    pub batch_id: BatchId,
    /// Digests of the accepted commits, sorted, at most [`MAX_COMMITS_PER_BATCH`].
    pub commits: Vec<Digest>,
}

impl CommitsClosed {
    /// Whether the commit with this digest is in the set.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.commits.binary_search(digest).is_ok()
    }
}

/// Which kind of bid a [`BidReceipt`] acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BidKind {
    /// A [`BidCommit`].
    Commit,
    /// A [`BidReveal`].
    Reveal,
}

/// The gateway's signed acknowledgement of a bid sent to it directly: it accepted the bid
/// (in its window, opening an accepted commit). A receipt for a bid the award then ignores
/// is evidence against the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidReceipt {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch.
    pub batch_id: BatchId,
    /// Commit or reveal.
    pub kind: BidKind,
    /// Who signed the bid.
    pub bidder: PublicKey,
    /// The bid's digest ([`Signed::digest`]).
    pub bid: Digest,
    /// For a commit: the weight its slot rank is computed with, proven against the batch's
    /// weight root, so a commit the closed set leaves out can be checked against the ranks
    /// it kept.
    pub weight: Option<SlotWeight>,
}

/// Everything an award used, as the gateway serves it ([`Request::Transcript`]): any peer
/// recomputes the award from it ([`crate::audit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionTranscript {
    /// The batch.
    pub batch: Signed<BatchAnnouncement>,
    /// The commits the gateway closed the commit window with.
    pub closed: Signed<CommitsClosed>,
    /// The commits the award used.
    pub commits: Vec<Signed<BidCommit>>,
    /// The reveals the award used.
    pub reveals: Vec<Signed<BidReveal>>,
    /// The eligibility snapshot the award used.
    pub eligibility: Eligibility,
    /// The award.
    pub result: Signed<AuctionResult>,
}

/// What a prover runs on, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HardwareSummary {
    /// CPU cores available to proving.
    pub cpu_cores: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// The GPU model, if one is used.
    pub gpu: Option<String>,
    /// The multi-scalar multiplication backend in use, e.g. `cpu` or `cuda`.
    pub msm_backend: String,
}

/// Gossiped by a prover at start and periodically: what it proves and how much at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProverAvailability {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The categories it bids on.
    pub categories: Vec<JobCategory>,
    /// How many jobs it proves at once.
    pub capacity: u32,
    /// Its hardware.
    pub hardware: HardwareSummary,
    /// The node software version.
    pub node_version: String,
    /// When it was sent; newer announcements replace older ones.
    pub announced_at: UnixMillis,
}

impl ProverAvailability {
    /// Checks field bounds.
    pub fn validate(&self) -> Result<(), MessageError> {
        if self.node_version.len() > MAX_TEXT_LEN {
            return Err(MessageError::TextTooLong("node_version"));
        }
        if self.hardware.msm_backend.len() > MAX_TEXT_LEN {
            return Err(MessageError::TextTooLong("hardware.msm_backend"));
        }
        if self
            .hardware
            .gpu
            .as_ref()
            .is_some_and(|g| g.len() > MAX_TEXT_LEN)
        {
            return Err(MessageError::TextTooLong("hardware.gpu"));
        }
        if self.capacity == 0 {
            return Err(MessageError::Zero("capacity"));
        }
        Ok(())
    }
}

/// Sent by the gateway to a winner: the job is theirs at `price` until `proving_deadline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAssignment {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch it was won in.
    pub batch_id: BatchId,
    /// The job.
    pub job_id: JobId,
    /// The circuit to prove with.
    pub circuit: CircuitId,
    /// The winner.
    pub prover: PublicKey,
    /// What the winner is paid for a valid proof in time.
    pub price: Price,
    /// Digest of the input the winner fetches.
    pub input_digest: Digest,
    /// Deadline for a valid proof.
    pub proving_deadline: UnixMillis,
}

/// A prover's proof for an assigned job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofSubmission {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The batch the job was won in.
    pub batch_id: BatchId,
    /// The job.
    pub job_id: JobId,
    /// The compressed Groth16 proof.
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
    /// The compressed public inputs the proof claims.
    #[serde(with = "serde_bytes")]
    pub public_inputs: Vec<u8>,
}

/// What the gateway decided about a submitted proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProofOutcome {
    /// Verified; the prover is credited `paid`.
    Accepted {
        /// Amount credited.
        paid: Price,
    },
    /// Did not verify; the prover is slashed and the job re-auctioned.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Arrived after the deadline; not paid.
    Late,
    /// The submitter does not hold the job's assignment.
    NotAssigned,
}

/// The gateway's signed verdict on a submission, returned to the prover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofVerdict {
    /// The Supernet.
    pub supernet: SupernetId,
    /// The job.
    pub job_id: JobId,
    /// The prover who submitted.
    pub prover: PublicKey,
    /// The decision.
    pub outcome: ProofOutcome,
}

macro_rules! signed_payload {
    ($ty:ty, $kind:ident) => {
        impl SignedPayload for $ty {
            const KIND: MessageKind = MessageKind::$kind;

            fn supernet(&self) -> &SupernetId {
                &self.supernet
            }
        }
    };
}

signed_payload!(BatchAnnouncement, BatchAnnouncement);
signed_payload!(BidCommit, BidCommit);
signed_payload!(BidReveal, BidReveal);
signed_payload!(AuctionResult, AuctionResult);
signed_payload!(ProverAvailability, ProverAvailability);
signed_payload!(JobAssignment, JobAssignment);
signed_payload!(ProofSubmission, ProofSubmission);
signed_payload!(ProofVerdict, ProofVerdict);
signed_payload!(CommitsClosed, CommitsClosed);
signed_payload!(BidReceipt, BidReceipt);

/// Everything that travels over a Supernet's gossip topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GossipMessage {
    /// A gateway's batch.
    Batch(Signed<BatchAnnouncement>),
    /// A prover's sealed bid.
    Commit(Signed<BidCommit>),
    /// A prover's opened bid.
    Reveal(Signed<BidReveal>),
    /// A gateway's award.
    Result(Signed<AuctionResult>),
    /// A prover's availability.
    Availability(Signed<ProverAvailability>),
    /// A gateway's closed commit set.
    CommitsClosed(Signed<CommitsClosed>),
}

impl GossipMessage {
    /// The signer of the wrapped message.
    pub fn signer(&self) -> &PublicKey {
        match self {
            GossipMessage::Batch(m) => &m.signer,
            GossipMessage::Commit(m) => &m.signer,
            GossipMessage::Reveal(m) => &m.signer,
            GossipMessage::Result(m) => &m.signer,
            GossipMessage::Availability(m) => &m.signer,
            GossipMessage::CommitsClosed(m) => &m.signer,
        }
    }

    /// The Supernet named inside the wrapped message.
    pub fn supernet(&self) -> &SupernetId {
        match self {
            GossipMessage::Batch(m) => &m.payload.supernet,
            GossipMessage::Commit(m) => &m.payload.supernet,
            GossipMessage::Reveal(m) => &m.payload.supernet,
            GossipMessage::Result(m) => &m.payload.supernet,
            GossipMessage::Availability(m) => &m.payload.supernet,
            GossipMessage::CommitsClosed(m) => &m.payload.supernet,
        }
    }
}

/// A request from one peer to another over a Supernet's request-response protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A sealed bid sent straight to the gateway.
    Commit(Signed<BidCommit>),
    /// An opened bid sent straight to the gateway.
    Reveal(Signed<BidReveal>),
    /// A winner asks for a job's input. The transport authenticates the asker, and the
    /// gateway answers only the job's assigned prover.
    JobInput {
        /// The Supernet.
        supernet: SupernetId,
        /// The job.
        job_id: JobId,
    },
    /// A winner hands in a proof.
    SubmitProof(Signed<ProofSubmission>),
    /// A late joiner asks for the batches still open for bids.
    CatchUp {
        /// The Supernet.
        supernet: SupernetId,
    },
    /// A prover (re)connecting, or missing an auction's result, asks the gateway for every
    /// job currently assigned to it. The transport authenticates the asker.
    Assignments {
        /// The Supernet.
        supernet: SupernetId,
    },
    /// The gateway tells a winner of its job directly (gossip may lose the result). The
    /// winner answers [`Response::Ack`] once it holds the job.
    Assign(Signed<JobAssignment>),
    /// Anyone asks the gateway for a past auction's transcript.
    Transcript {
        /// The Supernet.
        supernet: SupernetId,
        /// The batch.
        batch_id: BatchId,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The request was taken.
    Ack,
    /// The request was refused, with a reason for the operator's logs.
    Refused {
        /// Why.
        reason: String,
    },
    /// A job's input, with the gateway's signed assignment (price and deadline).
    JobInput {
        /// The assignment.
        assignment: Signed<JobAssignment>,
        /// The input, whose blake3 digest is the assignment's `input_digest`.
        #[serde(with = "serde_bytes")]
        input: Vec<u8>,
    },
    /// The gateway's verdict on a submitted proof.
    Verdict(Signed<ProofVerdict>),
    /// The batches still open for bids.
    CatchUp {
        /// Open batches, oldest first.
        batches: Vec<Signed<BatchAnnouncement>>,
    },
    /// Every job assigned to the asker, at most [`MAX_ASSIGNMENTS`].
    Assignments {
        /// The signed assignments, with their current deadlines.
        assignments: Vec<Signed<JobAssignment>>,
    },
    /// The gateway accepted a bid sent to it directly.
    Receipt(Signed<BidReceipt>),
    /// An auction's transcript.
    Transcript(Box<AuctionTranscript>),
}

/// A request on the parameter protocol (its own request-response protocol, apart from the
/// roles' [`Request`]s): one chunk of a content-addressed parameter file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamRequest {
    /// The file's blake3 digest.
    pub digest: Digest,
    /// Byte offset of the chunk.
    pub offset: u64,
    /// Most bytes wanted; the server may send fewer.
    pub max_len: u32,
}

/// The answer to a [`ParamRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamResponse {
    /// A chunk of the file.
    Chunk {
        /// The file's digest.
        digest: Digest,
        /// The file's total length (a claim: a fetcher trusts only the digest).
        total_len: u64,
        /// Offset of `data` in the file.
        offset: u64,
        /// The bytes, at most [`crate::codec::MAX_PARAM_CHUNK`].
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The request was refused (unknown file, bad offset, too many requests).
    Refused {
        /// Why.
        reason: String,
    },
}

/// What the gateway knows about one prover when it awards a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProverStanding {
    /// On the Supernet's allowlist (always true in an open Supernet).
    pub allowlisted: bool,
    /// Current stake after slashes.
    pub stake: u64,
    /// Jobs it can take in this batch: announced capacity minus jobs in flight.
    pub free_capacity: u32,
    /// Categories it announced.
    pub categories: BTreeSet<JobCategory>,
    /// Digest ([`Signed::digest`]) of the signed availability announcement this standing
    /// comes from: an auditor holding that very announcement checks the capacity against
    /// it. (A time alone would not do: a prover could sign two announcements with one time
    /// and different capacities, and hold the gateway to the one it never sent.)
    pub announcement: Digest,
}

/// The eligibility snapshot an award is computed against. It is part of the transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    /// The Supernet's minimum stake.
    pub min_stake: u64,
    /// Standing per prover; a prover missing here is not eligible.
    pub provers: BTreeMap<PublicKey, ProverStanding>,
    /// Provers barred from particular jobs (they failed them before).
    pub excluded: BTreeMap<JobId, BTreeSet<PublicKey>>,
    /// Jobs of the batch that left the auction while it ran (their task ended): barred to
    /// every prover, listed once however many provers there are.
    pub cancelled: BTreeSet<JobId>,
    /// The weight each committer's slot rank was computed with, proven against the batch's
    /// weight root.
    pub weights: BTreeMap<PublicKey, SlotWeight>,
}

/// One job won: who proves it and what they are paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AwardedJob {
    /// The job.
    pub job_id: JobId,
    /// The winner.
    pub prover: PublicKey,
    /// The winner's own bid, which it is paid on a valid proof.
    pub price: Price,
}

/// The outcome of one batch's auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    /// Won jobs, sorted by job id.
    pub awarded: Vec<AwardedJob>,
    /// Jobs nobody validly bid on (or whose bidders ran out of capacity), in batch order.
    pub unawarded: Vec<JobId>,
    /// Provers that committed but did not validly reveal, sorted by key.
    pub non_revealers: Vec<PublicKey>,
    /// Hash of exactly the inputs used, see [`crate::transcript`].
    pub transcript_hash: Digest,
}

impl AuctionResult {
    /// The result message for `award` of `batch`.
    pub fn new(batch: &BatchAnnouncement, award: Award) -> Self {
        Self {
            supernet: batch.supernet.clone(),
            batch_id: batch.batch_id,
            award,
        }
    }
}
