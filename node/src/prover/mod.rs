//! The prover role: announces capacity, bids from its cost model, proves what it wins on a
//! bounded pool off the runtime, and submits.
//!
//! [`core`] is the state machine; the driver connects it to the network and the pool.

pub mod core;
pub mod driver;

pub use core::{
    BidAnswer, CostModel, HeldJob, Input, Output, ProverCore, ProverSettings, SealedBid,
};
