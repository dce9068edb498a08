//! Serving parameter files to peers: chunks read on the blocking pool, at most
//! [`CHUNKS_PER_PEER`] per peer per 10 s.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use libp2p::PeerId;

use lagrange_protocol::codec;
use lagrange_protocol::messages::{ParamRequest, ParamResponse};

use super::ParamFiles;
use crate::net::rate::RateLimiter;
use crate::net::{RequestToken, SupernetHandle};

/// Parameter chunks one peer may ask for per window (1 MiB each: about 50 MB/s).
pub const CHUNKS_PER_PEER: u32 = 512;

/// Answers parameter requests from the files a node holds.
pub struct ParamServer {
    files: ParamFiles,
    chunks: RateLimiter,
}

impl ParamServer {
    /// Serves `files`.
    pub fn new(files: ParamFiles) -> Self {
        Self {
            files,
            chunks: RateLimiter::new(CHUNKS_PER_PEER, Duration::from_secs(10)),
        }
    }

    /// Answers `request` from `peer` through `net`: refused at once past the peer's rate,
    /// else read off the runtime and answered when read.
    pub async fn serve(
        &mut self,
        net: &SupernetHandle,
        peer: PeerId,
        token: RequestToken,
        request: ParamRequest,
    ) {
        if !self.chunks.allow(peer, tokio::time::Instant::now()) {
            let reason = "too many parameter chunks; slow down".to_string();
            net.respond_params(token, ParamResponse::Refused { reason })
                .await;
            return;
        }
        let path = self.files.get(&request.digest).cloned();
        let net = net.clone();
        tokio::spawn(async move {
            let response = match path {
                Some(path) => tokio::task::spawn_blocking(move || read_chunk(&path, request))
                    .await
                    .unwrap_or_else(|e| ParamResponse::Refused {
                        reason: e.to_string(),
                    }),
                None => ParamResponse::Refused {
                    reason: format!("no parameter file {} here", request.digest),
                },
            };
            net.respond_params(token, response).await;
        });
    }
}

/// Reads the chunk of `path` that a [`ParamRequest`] asks for. Blocking: call it on
/// the blocking pool.
pub fn read_chunk(path: &Path, request: ParamRequest) -> ParamResponse {
    let ParamRequest {
        digest,
        offset,
        max_len,
    } = request;
    let refuse = |reason: String| ParamResponse::Refused { reason };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return refuse(format!("parameter file {digest} unavailable: {e}")),
    };
    let total_len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return refuse(e.to_string()),
    };
    if offset > total_len {
        return refuse(format!(
            "offset {offset} beyond the file's {total_len} bytes"
        ));
    }
    let len = (max_len as u64)
        .min(codec::MAX_PARAM_CHUNK as u64)
        .min(total_len - offset);
    let mut data = vec![0u8; len as usize];
    if let Err(e) = file
        .seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut data))
    {
        return refuse(e.to_string());
    }
    ParamResponse::Chunk {
        digest,
        total_len,
        offset,
        data,
    }
}
