//! The pure core of the lagrange-node network.
//!
//! Everything that two peers must agree on lives here, and nothing else: identifiers, job
//! categories, the signed wire messages, the commit-reveal bid scheme, the auction rule with
//! its transcript hash, the Supernet configuration and the size-limited wire codec.
//!
//! The crate does no I/O. It never reads a clock (callers pass `now` in Unix milliseconds),
//! never opens a file or socket and never draws randomness (callers pass salts and seeds).
//! That lets the gateway, every prover and any auditor run exactly the same code and reach
//! exactly the same decisions.
//!
//! A typical flow, from the gateway's side:
//!
//! 1. [`messages::BatchAnnouncement`] is signed with [`Signed::sign`] and gossiped.
//! 2. Provers answer with a [`messages::BidCommit`] built by [`commit::commit_bids`], then a
//!    [`messages::BidReveal`]; the gateway collects both in a [`book::BidBook`], which checks
//!    windows, signers and the commit-reveal binding.
//! 3. When the commit window closes the gateway signs the set of commits it accepted
//!    ([`messages::CommitsClosed`]); [`auction::award`] computes the winners;
//!    [`auction::verify_award`] lets anyone check an [`messages::AuctionResult`] against
//!    the same inputs, and [`audit::audit`] checks every promise the gateway signed
//!    (closed set, receipts, capacities) and names a deviation with its evidence.

pub mod auction;
pub mod audit;
pub mod book;
pub mod bytes;
pub mod canonical;
pub mod category;
pub mod codec;
pub mod commit;
pub mod config;
pub mod equivocation;
pub mod ids;
pub mod keys;
pub mod merkle;
pub mod messages;
pub mod settlement;
pub mod signed;
pub mod sortition;
pub mod tokenomics;
pub mod transcript;

pub use auction::award;
pub use bytes::Digest;
pub use category::JobCategory;
pub use ids::{BatchId, CircuitId, JobId, SupernetId, TaskId};
pub use keys::{Keypair, PublicKey, Signature};
pub use messages::{Award, AwardedJob, Eligibility, ProverStanding};
pub use signed::{MessageKind, Signed, SignedPayload};

/// Version of the wire protocol. It is part of every signature and every encoded frame, so
/// peers of different versions reject each other's messages instead of misreading them.
pub const PROTOCOL_VERSION: u16 = 3;

/// Milliseconds since the Unix epoch. The protocol never reads a clock itself.
pub type UnixMillis = u64;

/// A price in the Supernet's smallest fee unit.
pub type Price = u64;
