//! The wire codec: versioned, kind-tagged, size-limited bincode frames.
//!
//! A frame is
//!
//! ```text
//! protocol version (u16 LE) ‖ frame kind (u8) ‖ bincode 2 (standard config) of the message
//! ```
//!
//! Decoding checks, in order: the frame's size against the kind's limit, the version, the
//! kind, the body, and that no byte is left over. Every failure is a typed [`CodecError`];
//! no input panics the decoder (a property test feeds it random bytes).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PROTOCOL_VERSION;
use crate::messages::{
    AuctionResult, BatchAnnouncement, BidCommit, BidReceipt, BidReveal, CommitsClosed,
    GossipMessage, JobAssignment, ParamRequest, ParamResponse, ProofSubmission, ProofVerdict,
    ProverAvailability, Request, Response,
};
use crate::signed::Signed;

/// Bytes before the body: version and kind.
pub const HEADER_LEN: usize = 3;

/// The largest parameter chunk a peer sends in one response.
pub const MAX_PARAM_CHUNK: usize = 1 << 20;

/// The largest job input a gateway serves.
pub const MAX_JOB_INPUT: usize = 2 << 20;

/// Hard cap on any frame, whatever its kind.
const ABSOLUTE_MAX: usize = 8 << 20;

/// A message with a frame kind and a size limit.
pub trait WireMessage: Serialize + DeserializeOwned {
    /// The frame kind byte.
    const FRAME_KIND: u8;
    /// The largest frame of this kind, header included.
    const MAX_SIZE: usize;
    /// A name for errors and logs.
    const NAME: &'static str;
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Larger than the kind's limit.
    #[error("{name} frame of {len} bytes exceeds the limit of {max}")]
    Oversize {
        /// The message type.
        name: &'static str,
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Shorter than its content needs.
    #[error("{0} frame is truncated")]
    Truncated(&'static str),
    /// Bytes left over after the message.
    #[error("{name} frame has {extra} trailing bytes")]
    TrailingBytes {
        /// The message type.
        name: &'static str,
        /// How many.
        extra: usize,
    },
    /// A protocol version this node does not speak.
    #[error("unknown protocol version {got} (this node speaks {PROTOCOL_VERSION})")]
    UnknownVersion {
        /// The frame's version.
        got: u16,
    },
    /// A frame of another kind.
    #[error("expected a {name} frame (kind {expected}), got kind {got}")]
    WrongKind {
        /// The message type expected.
        name: &'static str,
        /// Its kind byte.
        expected: u8,
        /// The frame's kind byte.
        got: u8,
    },
    /// The body does not decode.
    #[error("malformed {name} frame: {reason}")]
    Malformed {
        /// The message type.
        name: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<ABSOLUTE_MAX>()
}

/// Encodes `msg` as a frame. Fails if the frame would exceed the kind's limit, so a node
/// never sends what its peers must refuse.
pub fn encode<M: WireMessage>(msg: &M) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    out.push(M::FRAME_KIND);
    bincode::serde::encode_into_std_write(msg, &mut out, config()).map_err(|e| {
        CodecError::Malformed {
            name: M::NAME,
            reason: e.to_string(),
        }
    })?;
    if out.len() > M::MAX_SIZE {
        return Err(CodecError::Oversize {
            name: M::NAME,
            len: out.len(),
            max: M::MAX_SIZE,
        });
    }
    Ok(out)
}

/// Decodes one frame of kind `M`, rejecting oversize, truncated, trailing, wrong-version and
/// wrong-kind input.
pub fn decode<M: WireMessage>(bytes: &[u8]) -> Result<M, CodecError> {
    if bytes.len() > M::MAX_SIZE {
        return Err(CodecError::Oversize {
            name: M::NAME,
            len: bytes.len(),
            max: M::MAX_SIZE,
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::Truncated(M::NAME));
    }
    let version = u16::from_le_bytes([bytes[0], bytes[1]]);
    if version != PROTOCOL_VERSION {
        return Err(CodecError::UnknownVersion { got: version });
    }
    if bytes[2] != M::FRAME_KIND {
        return Err(CodecError::WrongKind {
            name: M::NAME,
            expected: M::FRAME_KIND,
            got: bytes[2],
        });
    }
    let body = &bytes[HEADER_LEN..];
    let (msg, used) =
        bincode::serde::decode_from_slice::<M, _>(body, config()).map_err(|e| match e {
            bincode::error::DecodeError::UnexpectedEnd { .. } => CodecError::Truncated(M::NAME),
            other => CodecError::Malformed {
                name: M::NAME,
                reason: other.to_string(),
            },
        })?;
    if used != body.len() {
        return Err(CodecError::TrailingBytes {
            name: M::NAME,
            extra: body.len() - used,
        });
    }
    Ok(msg)
}

macro_rules! wire {
    ($ty:ty, $kind:expr, $max:expr, $name:literal) => {
        impl WireMessage for $ty {
            const FRAME_KIND: u8 = $kind;
            const MAX_SIZE: usize = $max;
            const NAME: &'static str = $name;
        }
    };
}

// Signed messages on their own share their `MessageKind` byte.
wire!(Signed<BatchAnnouncement>, 1, 60 << 10, "BatchAnnouncement");
wire!(Signed<BidCommit>, 2, 512, "BidCommit");
wire!(Signed<BidReveal>, 3, 48 << 10, "BidReveal");
wire!(Signed<AuctionResult>, 4, 60 << 10, "AuctionResult");
wire!(Signed<ProverAvailability>, 5, 2 << 10, "ProverAvailability");
wire!(Signed<JobAssignment>, 6, 1 << 10, "JobAssignment");
wire!(Signed<ProofSubmission>, 7, 64 << 10, "ProofSubmission");
wire!(Signed<ProofVerdict>, 8, 2 << 10, "ProofVerdict");
wire!(Signed<CommitsClosed>, 9, 8 << 10, "CommitsClosed");
wire!(Signed<BidReceipt>, 10, 1 << 10, "BidReceipt");
// Envelopes. Gossip stays under gossipsub's 64 KiB default.
wire!(GossipMessage, 16, 63 << 10, "GossipMessage");
wire!(Request, 17, 128 << 10, "Request");
wire!(Response, 18, 4 << 20, "Response");
wire!(ParamRequest, 19, 256, "ParamRequest");
wire!(
    ParamResponse,
    20,
    MAX_PARAM_CHUNK + (4 << 10),
    "ParamResponse"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;
    use crate::ids::{BatchId, SupernetId};
    use crate::keys::Keypair;
    use crate::messages::Bid;
    use crate::{JobId, TaskId};

    fn commit() -> Signed<BidCommit> {
        Signed::sign(
            BidCommit {
                supernet: SupernetId::new("s").unwrap(),
                batch_id: BatchId([1; 16]),
                commitment: Digest([2; 32]),
            },
            &Keypair::insecure_from_seed(1),
        )
    }

    #[test]
    fn round_trip() {
        let c = commit();
        let bytes = encode(&c).unwrap();
        assert_eq!(decode::<Signed<BidCommit>>(&bytes).unwrap(), c);
        let g = GossipMessage::Commit(c);
        assert_eq!(decode::<GossipMessage>(&encode(&g).unwrap()).unwrap(), g);
    }

    #[test]
    fn rejects_trailing_truncated_version_and_kind() {
        let bytes = encode(&commit()).unwrap();
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode::<Signed<BidCommit>>(&long),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
        for cut in 0..bytes.len() {
            assert!(
                decode::<Signed<BidCommit>>(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        assert_eq!(
            decode::<Signed<BidCommit>>(&bytes[..bytes.len() - 1]),
            Err(CodecError::Truncated("BidCommit"))
        );
        let mut next = bytes.clone();
        next[..2].copy_from_slice(&(PROTOCOL_VERSION + 1).to_le_bytes());
        assert_eq!(
            decode::<Signed<BidCommit>>(&next),
            Err(CodecError::UnknownVersion {
                got: PROTOCOL_VERSION + 1
            })
        );
        assert!(matches!(
            decode::<Signed<BidReveal>>(&bytes),
            Err(CodecError::WrongKind { .. })
        ));
    }

    #[test]
    fn rejects_oversize_on_both_sides() {
        let big = vec![0u8; Signed::<BidCommit>::MAX_SIZE + 1];
        assert!(matches!(
            decode::<Signed<BidCommit>>(&big),
            Err(CodecError::Oversize { .. })
        ));
        let task = TaskId([0; 16]);
        let reveal = Signed::sign(
            BidReveal {
                supernet: SupernetId::new("s").unwrap(),
                batch_id: BatchId([1; 16]),
                bids: (0..20_000)
                    .map(|i| Bid {
                        job_id: JobId::new(task, i),
                        price: u64::MAX,
                    })
                    .collect(),
                salt: crate::messages::Salt([0; 32]),
            },
            &Keypair::insecure_from_seed(1),
        );
        assert!(matches!(encode(&reveal), Err(CodecError::Oversize { .. })));
    }

    #[test]
    fn huge_length_prefix_does_not_allocate_or_panic() {
        // A reveal whose bid vector claims u64::MAX entries.
        let mut frame = vec![1, 0, 3];
        frame.extend_from_slice(&[1, b's']); // supernet
        frame.extend_from_slice(&[16]); // batch id length
        frame.extend_from_slice(&[0; 16]);
        frame.push(0xff); // varint u64 marker
        frame.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Signed<BidReveal>>(&frame).is_err());
    }
}
