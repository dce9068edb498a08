//! The roles' protocol, `/lagrange/<supernet>/rpc/1`: bids sent straight to the gateway
//! (with its signed receipts), job inputs, proofs and verdicts, assignments, catch-up on
//! open batches and auction transcripts. Its messages are the protocol crate's [`Request`]
//! and [`Response`]; each goes as one size-limited frame ([`super::frames`]).

pub use lagrange_protocol::messages::{Request, Response};

use super::frames::FrameCodec;

/// The roles' request-response codec.
pub type RpcCodec = FrameCodec<Request, Response>;
