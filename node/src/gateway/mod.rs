//! The gateway role: takes client tasks, auctions their jobs in batches, verifies and pays
//! for proofs, re-auctions what fails, and aggregates results.
//!
//! [`core`] is the state machine; the driver that connects it to the network, the clock and
//! the blocking pool comes with the node wiring.

pub mod core;
mod deadlines;
pub mod driver;
mod handle;
pub mod tokens;

pub use core::{GatewayCore, Input, Misbehavior, Output, Reader, Submission, SubmitError};
