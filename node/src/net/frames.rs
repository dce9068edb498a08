//! The request-response codec every protocol of the mesh uses: one protocol frame per
//! stream, size-limited.
//!
//! Each request and each response is a single [`lagrange_protocol::codec`] frame, and the
//! sender closes its half of the stream after writing it. The reader takes at most the
//! frame kind's limit plus one byte, so an oversize message is refused without buffering it,
//! and the protocol decoder rejects truncated frames and trailing bytes. A protocol is this
//! codec over its own request and response types.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use lagrange_protocol::codec::{self, WireMessage};
use libp2p::StreamProtocol;

/// Bincode frames of `Req` and `Resp` over request-response streams.
pub struct FrameCodec<Req, Resp>(PhantomData<fn() -> (Req, Resp)>);

impl<Req, Resp> Default for FrameCodec<Req, Resp> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Req, Resp> Clone for FrameCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

async fn read_frame<M: WireMessage, T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<M> {
    let mut buf = Vec::new();
    io.take(M::MAX_SIZE as u64 + 1)
        .read_to_end(&mut buf)
        .await?;
    codec::decode::<M>(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_frame<M: WireMessage, T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    msg: &M,
) -> io::Result<()> {
    let bytes = codec::encode(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    io.write_all(&bytes).await?;
    io.flush().await
}

impl<Req, Resp> libp2p::request_response::Codec for FrameCodec<Req, Resp>
where
    Req: WireMessage + Send + Sync + 'static,
    Resp: WireMessage + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use lagrange_protocol::SupernetId;
    use lagrange_protocol::codec::WireMessage;
    use lagrange_protocol::messages::Request;
    use libp2p::request_response::Codec;

    fn proto() -> StreamProtocol {
        StreamProtocol::new("/test")
    }

    #[tokio::test]
    async fn round_trip_and_limits() {
        let req = Request::CatchUp {
            supernet: SupernetId::new("s").unwrap(),
        };
        let mut out = Cursor::new(Vec::new());
        FrameCodec::<Request, Request>::default()
            .write_request(&proto(), &mut out, req.clone())
            .await
            .unwrap();
        let bytes = out.into_inner();
        let got = FrameCodec::<Request, Request>::default()
            .read_request(&proto(), &mut Cursor::new(bytes.clone()))
            .await
            .unwrap();
        assert_eq!(got, req);

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(
            FrameCodec::<Request, Request>::default()
                .read_request(&proto(), &mut Cursor::new(trailing))
                .await
                .is_err()
        );
        let oversize = vec![0u8; Request::MAX_SIZE + 10];
        let err = FrameCodec::<Request, Request>::default()
            .read_request(&proto(), &mut Cursor::new(oversize))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            FrameCodec::<Request, Request>::default()
                .read_request(
                    &proto(),
                    &mut Cursor::new(bytes[..bytes.len() - 1].to_vec())
                )
                .await
                .is_err()
        );
    }
}
