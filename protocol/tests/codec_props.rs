//! Property tests of the wire codec: random input never panics, messages round-trip, and
//! every kind of damage is refused.

mod common;

use common::*;
use lagrange_protocol::codec::{CodecError, WireMessage, decode, encode};
use lagrange_protocol::messages::{
    BatchAnnouncement, BidCommit, BidReveal, GossipMessage, ParamRequest, ParamResponse,
    ProverAvailability, Request, Response,
};
use lagrange_protocol::{Digest, Signed};
use proptest::prelude::*;

fn decode_all_kinds(bytes: &[u8]) {
    // None of these may panic, whatever the bytes.
    let _ = decode::<GossipMessage>(bytes);
    let _ = decode::<Request>(bytes);
    let _ = decode::<Response>(bytes);
    let _ = decode::<ParamRequest>(bytes);
    let _ = decode::<ParamResponse>(bytes);
    let _ = decode::<Signed<BatchAnnouncement>>(bytes);
    let _ = decode::<Signed<BidCommit>>(bytes);
    let _ = decode::<Signed<BidReveal>>(bytes);
    let _ = decode::<Signed<ProverAvailability>>(bytes);
}

fn sample_frames() -> Vec<Vec<u8>> {
    let batch = batch(8);
    let (c, r) = sealed(&prover(1), &batch.payload, &[(0, 10), (3, 20)], 1);
    vec![
        encode(&GossipMessage::Batch(batch.clone())).unwrap(),
        encode(&GossipMessage::Commit(c.clone())).unwrap(),
        encode(&GossipMessage::Reveal(r.clone())).unwrap(),
        encode(&Request::Commit(c)).unwrap(),
        encode(&ParamRequest {
            digest: Digest([3; 32]),
            offset: 1 << 33,
            max_len: 1 << 20,
        })
        .unwrap(),
        encode(&ParamResponse::Chunk {
            digest: Digest([3; 32]),
            total_len: 9,
            offset: 4,
            data: vec![1, 2, 3],
        })
        .unwrap(),
        encode(&Response::CatchUp {
            batches: vec![batch],
        })
        .unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all_kinds(&bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        kind in prop_oneof![Just(16u8), Just(17), Just(18), Just(19), Just(20), 1u8..11],
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut frame = vec![1, 0, kind];
        frame.extend_from_slice(&body);
        decode_all_kinds(&frame);
    }

    #[test]
    fn mutated_frames_never_panic(which in 0usize..7, pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let frames = sample_frames();
        let mut frame = frames[which].clone();
        let i = pos % frame.len();
        frame[i] = byte;
        decode_all_kinds(&frame);
        frame.truncate(cut % (frame.len() + 1));
        decode_all_kinds(&frame);
    }

    #[test]
    fn every_strict_prefix_and_any_extension_is_rejected(which in 0usize..7, extra in proptest::collection::vec(any::<u8>(), 1..16)) {
        let frames = sample_frames();
        let frame = &frames[which];
        let kind = frame[2];
        let check = |bytes: &[u8]| -> bool {
            match kind {
                16 => decode::<GossipMessage>(bytes).is_err(),
                17 => decode::<Request>(bytes).is_err(),
                18 => decode::<Response>(bytes).is_err(),
                19 => decode::<ParamRequest>(bytes).is_err(),
                20 => decode::<ParamResponse>(bytes).is_err(),
                _ => unreachable!(),
            }
        };
        for cut in 0..frame.len() {
            prop_assert!(check(&frame[..cut]));
        }
        let mut longer = frame.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(check(&longer));
    }
}

#[test]
fn sample_frames_round_trip() {
    let batch = batch(8);
    let msg = GossipMessage::Batch(batch);
    let bytes = encode(&msg).unwrap();
    assert_eq!(decode::<GossipMessage>(&bytes).unwrap(), msg);
    for frame in sample_frames() {
        assert!(frame.len() <= Response::MAX_SIZE);
    }
}

#[test]
fn oversize_input_is_refused_before_decoding() {
    let huge = vec![0u8; GossipMessage::MAX_SIZE + 1];
    assert!(matches!(
        decode::<GossipMessage>(&huge),
        Err(CodecError::Oversize { .. })
    ));
}

#[test]
fn largest_batch_fits_a_gossip_frame() {
    let n = lagrange_protocol::messages::MAX_JOBS_PER_BATCH as u32;
    let bytes = encode(&GossipMessage::Batch(batch(n))).unwrap();
    assert!(bytes.len() <= GossipMessage::MAX_SIZE);
}

#[test]
fn largest_reveal_and_result_fit_their_frames() {
    use lagrange_protocol::messages::AuctionResult;
    use lagrange_protocol::{Award, AwardedJob};
    let n = lagrange_protocol::messages::MAX_JOBS_PER_BATCH as u32;
    let batch = batch(n);
    let prices: Vec<(u32, u64)> = (0..n).map(|j| (j, u64::MAX)).collect();
    let (_, reveal) = sealed(&prover(1), &batch.payload, &prices, 1);
    encode(&GossipMessage::Reveal(reveal)).unwrap();
    let award = Award {
        awarded: batch
            .payload
            .jobs
            .iter()
            .map(|j| AwardedJob {
                job_id: j.job_id,
                prover: prover(1).public(),
                price: u64::MAX,
            })
            .collect(),
        unawarded: vec![],
        non_revealers: (0..64).map(|i| prover(i).public()).collect(),
        transcript_hash: Digest([0; 32]),
    };
    let result = Signed::sign(AuctionResult::new(&batch.payload, award), &gateway());
    encode(&GossipMessage::Result(result)).unwrap();
}
