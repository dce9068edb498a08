//! Every wire frame kind: gossip, requests and responses, parameter chunks and each signed
//! message. The first byte picks the kind; the rest is the frame. A frame that decodes must
//! re-encode within its kind's size limit and decode to the same message.
use lagrange_protocol::Signed;
use lagrange_protocol::codec::{self, WireMessage};
use lagrange_protocol::messages::{
    AuctionResult, BatchAnnouncement, BidCommit, BidReceipt, BidReveal, CommitsClosed,
    GossipMessage, JobAssignment, ParamRequest, ParamResponse, ProofSubmission, ProofVerdict,
    ProverAvailability, Request, Response,
};

fn round_trip<M: WireMessage + PartialEq + std::fmt::Debug>(frame: &[u8]) {
    let Ok(msg) = codec::decode::<M>(frame) else {
        return;
    };
    assert!(frame.len() <= M::MAX_SIZE);
    let again = codec::encode(&msg).expect("a decoded message re-encodes within its limit");
    assert!(again.len() <= M::MAX_SIZE);
    assert_eq!(
        codec::decode::<M>(&again).expect("re-encoded frame decodes"),
        msg
    );
}

pub fn check(data: &[u8]) {
    let Some((kind, frame)) = data.split_first() else {
        return;
    };
    match kind % 15 {
        0 => round_trip::<GossipMessage>(frame),
        1 => round_trip::<Request>(frame),
        2 => round_trip::<Response>(frame),
        3 => round_trip::<ParamRequest>(frame),
        4 => round_trip::<ParamResponse>(frame),
        5 => round_trip::<Signed<BatchAnnouncement>>(frame),
        6 => round_trip::<Signed<BidCommit>>(frame),
        7 => round_trip::<Signed<BidReveal>>(frame),
        8 => round_trip::<Signed<AuctionResult>>(frame),
        9 => round_trip::<Signed<ProverAvailability>>(frame),
        10 => round_trip::<Signed<JobAssignment>>(frame),
        11 => round_trip::<Signed<ProofSubmission>>(frame),
        12 => round_trip::<Signed<ProofVerdict>>(frame),
        13 => round_trip::<Signed<CommitsClosed>>(frame),
        _ => round_trip::<Signed<BidReceipt>>(frame),
    }
}
