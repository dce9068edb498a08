//! The request-response codec: one protocol frame per stream, size-limited.
//!
//! Each request and each response is a single [`lagrange_protocol::codec`] frame, and the
//! sender closes its half of the stream after writing it. The reader takes at most the
//! frame kind's limit plus one byte, so an oversize message is refused without buffering it,
//! and the protocol decoder rejects truncated frames and trailing bytes.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use lagrange_protocol::codec::{self, WireMessage};
use lagrange_protocol::messages::{Request, Response};
use libp2p::StreamProtocol;

/// Bincode frames over request-response streams.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcCodec;

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

impl libp2p::request_response::Codec for RpcCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
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
        RpcCodec
            .write_request(&proto(), &mut out, req.clone())
            .await
            .unwrap();
        let bytes = out.into_inner();
        let got = RpcCodec
            .read_request(&proto(), &mut Cursor::new(bytes.clone()))
            .await
            .unwrap();
        assert_eq!(got, req);

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(
            RpcCodec
                .read_request(&proto(), &mut Cursor::new(trailing))
                .await
                .is_err()
        );
        let oversize = vec![0u8; Request::MAX_SIZE + 10];
        let err = RpcCodec
            .read_request(&proto(), &mut Cursor::new(oversize))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            RpcCodec
                .read_request(
                    &proto(),
                    &mut Cursor::new(bytes[..bytes.len() - 1].to_vec())
                )
                .await
                .is_err()
        );
    }
}
