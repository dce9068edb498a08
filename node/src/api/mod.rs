//! The client API: gRPC (tonic) over the versioned `proto/lagrange/v1/gateway.proto`.

pub mod server;

pub use server::{MAX_WATCHES, MAX_WATCHES_PER_CLIENT};

/// Generated protobuf types and the gRPC client and server stubs.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("lagrange.v1");
}

/// Largest request the server decodes. Bigger ones are refused with `OUT_OF_RANGE` by
/// tonic before they reach the gateway.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;
