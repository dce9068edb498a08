//! The request-response stream framing (`node/src/net/frames.rs`): a peer's bytes arriving
//! in pieces of any size. Reading a frame off the stream must give exactly what decoding the
//! same bytes at once gives, refuse anything over the kind's limit, and never take more than
//! the limit plus one byte off the stream, however much the peer sends.
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::AsyncRead;
use futures::executor::block_on;
use lagrange_node::net::frames::FrameCodec;
use lagrange_protocol::codec::{self, WireMessage};
use lagrange_protocol::messages::{ParamRequest, ParamResponse, Request, Response};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;

/// A peer's stream: `data`, handed out at most `piece` bytes per read, and counting how much
/// was taken.
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
    taken: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.piece).min(self.data.len() - self.taken);
        let from = self.taken;
        buf[..n].copy_from_slice(&self.data[from..from + n]);
        self.taken += n;
        Poll::Ready(Ok(n))
    }
}

fn read_stream<Req, Resp>(piece: usize, as_request: bool, stream: &[u8])
where
    Req: WireMessage + Send + Sync + PartialEq + std::fmt::Debug + 'static,
    Resp: WireMessage + Send + Sync + PartialEq + std::fmt::Debug + 'static,
{
    let proto = StreamProtocol::new("/fuzz");
    let mut io = Pieces {
        data: stream,
        piece,
        taken: 0,
    };
    let mut codec = FrameCodec::<Req, Resp>::default();
    let limit = if as_request {
        let got = block_on(codec.read_request(&proto, &mut io));
        match codec::decode::<Req>(stream) {
            Ok(msg) if stream.len() <= Req::MAX_SIZE => assert_eq!(got.ok(), Some(msg)),
            _ => assert!(got.is_err(), "the stream read a frame decoding refuses"),
        }
        Req::MAX_SIZE
    } else {
        let got = block_on(codec.read_response(&proto, &mut io));
        match codec::decode::<Resp>(stream) {
            Ok(msg) if stream.len() <= Resp::MAX_SIZE => assert_eq!(got.ok(), Some(msg)),
            _ => assert!(got.is_err(), "the stream read a frame decoding refuses"),
        }
        Resp::MAX_SIZE
    };
    assert!(
        io.taken <= limit + 1,
        "read {} bytes past a {limit}-byte limit",
        io.taken
    );
}

pub fn check(data: &[u8]) {
    // Byte 0 picks the protocol and direction, bytes 1-2 the size of each piece the peer's
    // bytes arrive in; the rest is the stream. With byte 5 at 0x80 the stream is repeated to
    // within 256 bytes either side of the kind's limit (bytes 3-4 say where), so that the
    // limit itself is fuzzed without every input costing megabytes.
    let [kind, p0, p1, l0, l1, l2, stream @ ..] = data else {
        return;
    };
    let limit = match kind % 4 {
        0 => Request::MAX_SIZE,
        1 => Response::MAX_SIZE,
        2 => ParamRequest::MAX_SIZE,
        _ => ParamResponse::MAX_SIZE,
    };
    let long: Vec<u8>;
    let stream = if *l2 == 0x80 && !stream.is_empty() {
        let len = limit - 256 + usize::from(u16::from_le_bytes([*l0, *l1])) % 512;
        long = stream.iter().copied().cycle().take(len).collect();
        &long[..]
    } else {
        stream
    };
    let piece = usize::from(u16::from_le_bytes([*p0, *p1]))
        .max(stream.len() / 4096)
        .max(1);
    match kind % 4 {
        0 => read_stream::<Request, Response>(piece, true, stream),
        1 => read_stream::<Request, Response>(piece, false, stream),
        2 => read_stream::<ParamRequest, ParamResponse>(piece, true, stream),
        _ => read_stream::<ParamRequest, ParamResponse>(piece, false, stream),
    }
}
