//! Fetching a parameter file from a peer.
//!
//! A file is named by the blake3 digest of its bytes (the digest the Supernet config pins).
//! The fetcher asks any peer for it in chunks of at most [`codec::MAX_PARAM_CHUNK`] bytes,
//! keeps several requests in flight, appends to `<dest>.part`, and hashes as it goes. If the
//! transfer stops, the next fetch resumes from the end of the `.part` file. The file is moved
//! to `dest` only when the digest of the whole matches; otherwise the `.part` file is deleted
//! and the fetch fails.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use libp2p::PeerId;
use tokio::io::AsyncWriteExt;

use lagrange_protocol::Digest;
use lagrange_protocol::codec;
use lagrange_protocol::messages::{ParamRequest, ParamResponse};

use crate::net::{RequestError, SupernetHandle};

/// Chunk requests in flight at once.
const WINDOW: usize = 4;

/// Why a parameter fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// The request failed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The peer refused.
    #[error("peer refused: {0}")]
    Refused(String),
    /// The peer answered something other than the chunk asked for.
    #[error("peer sent a bad chunk: {0}")]
    BadChunk(String),
    /// The whole file does not hash to its name.
    #[error("digest mismatch: expected {expected}, got {got}")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        got: Digest,
    },
    /// The partial download is longer than the peer's file: it is stale.
    #[error("the partial download is longer than the file")]
    Stale,
    /// The peer claims a file larger than any parameter file may be.
    #[error("peer claims a {0}-byte file, more than the {MAX_PARAM_FILE}-byte limit")]
    TooLarge(u64),
    /// A local file error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ParamError + '_ {
    move |source| ParamError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a completed fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchReport {
    /// The file's size.
    pub total_len: u64,
    /// Bytes already present from an earlier, interrupted fetch.
    pub resumed_from: u64,
}

/// The `.part` file next to `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Hashes an existing partial file, to resume after it.
fn hash_existing(path: &Path) -> Result<(blake3::Hasher, u64), ParamError> {
    let mut hasher = blake3::Hasher::new();
    match std::fs::File::open(path) {
        Ok(file) => {
            let len = hasher.update_reader(file).map_err(io_err(path))?;
            let len = len.count();
            Ok((hasher, len))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((hasher, 0)),
        Err(e) => Err(io_err(path)(e)),
    }
}

async fn chunk(
    net: &SupernetHandle,
    peer: PeerId,
    digest: Digest,
    offset: u64,
) -> Result<(u64, Vec<u8>), ParamError> {
    chunk_of(net, peer, digest, offset, codec::MAX_PARAM_CHUNK as u32).await
}

async fn chunk_of(
    net: &SupernetHandle,
    peer: PeerId,
    digest: Digest,
    offset: u64,
    max_len: u32,
) -> Result<(u64, Vec<u8>), ParamError> {
    let response = net
        .request_params(
            peer,
            ParamRequest {
                digest,
                offset,
                max_len,
            },
        )
        .await?;
    match response {
        ParamResponse::Chunk {
            digest: d,
            total_len,
            offset: o,
            data,
        } => {
            if d != digest || o != offset {
                return Err(ParamError::BadChunk(format!(
                    "asked for {digest} at {offset}, got {d} at {o}"
                )));
            }
            if data.len() > codec::MAX_PARAM_CHUNK
                || offset.saturating_add(data.len() as u64) > total_len
                || (data.is_empty() && offset < total_len)
            {
                return Err(ParamError::BadChunk(format!(
                    "{} bytes at {offset} of a {total_len}-byte file",
                    data.len()
                )));
            }
            Ok((total_len, data))
        }
        ParamResponse::Refused { reason } => Err(ParamError::Refused(reason)),
    }
}

/// The largest parameter file a node downloads (a proving key of about 2^24 constraints).
/// A peer's claimed length is never trusted beyond it: the digest is only checked at the end.
pub const MAX_PARAM_FILE: u64 = 8 << 30;

/// Fetches the file named `digest` from `peer` into `dest`, resuming a partial download.
/// A partial download the peer's file cannot continue (longer than the file, or refused at
/// its offset) is discarded and the fetch starts over.
pub async fn fetch(
    net: &SupernetHandle,
    peer: PeerId,
    digest: Digest,
    dest: &Path,
) -> Result<FetchReport, ParamError> {
    fetch_with_progress(net, peer, digest, dest, &|_, _| {}).await
}

/// [`fetch`], telling `progress` the bytes held and the file's length after every chunk.
pub async fn fetch_with_progress(
    net: &SupernetHandle,
    peer: PeerId,
    digest: Digest,
    dest: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<FetchReport, ParamError> {
    match fetch_from_part(net, peer, digest, dest, progress).await {
        Err(ParamError::Stale) => {
            let part = part_path(dest);
            tokio::fs::remove_file(&part).await.map_err(io_err(&part))?;
            fetch_from_part(net, peer, digest, dest, progress).await
        }
        other => other,
    }
}

async fn fetch_from_part(
    net: &SupernetHandle,
    peer: PeerId,
    digest: Digest,
    dest: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<FetchReport, ParamError> {
    let part = part_path(dest);
    let (mut hasher, resumed_from) = {
        let part = part.clone();
        tokio::task::spawn_blocking(move || hash_existing(&part))
            .await
            .map_err(|e| io_err(dest)(std::io::Error::other(e)))??
    };
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .await
        .map_err(io_err(&part))?;

    // Resuming: a partial download longer than the peer's file is stale (one byte at offset
    // 0 tells the length).
    if resumed_from > 0 {
        let (total_len, _) = chunk_of(net, peer, digest, 0, 1).await?;
        if resumed_from > total_len {
            return Err(ParamError::Stale);
        }
    }
    // The first chunk tells the total length; then keep a window of requests in flight.
    // Whatever happens, what was written is flushed, so a later fetch can resume after it.
    let mut offset = resumed_from;
    let transfer = async {
        let (total_len, first) = chunk(net, peer, digest, resumed_from).await?;
        if total_len > MAX_PARAM_FILE {
            return Err(ParamError::TooLarge(total_len));
        }
        hasher.update(&first);
        offset += first.len() as u64;
        file.write_all(&first).await.map_err(io_err(&part))?;
        progress(offset, total_len);
        let next_offsets = (offset..total_len).step_by(codec::MAX_PARAM_CHUNK);
        let mut chunks = futures::stream::iter(next_offsets)
            .map(|o| chunk(net, peer, digest, o))
            .buffered(WINDOW);
        while let Some(result) = chunks.next().await {
            let (len, data) = result?;
            if len != total_len {
                return Err(ParamError::BadChunk(
                    "file length changed mid-transfer".into(),
                ));
            }
            hasher.update(&data);
            offset += data.len() as u64;
            file.write_all(&data).await.map_err(io_err(&part))?;
            progress(offset, total_len);
        }
        Ok(total_len)
    }
    .await;
    file.flush().await.map_err(io_err(&part))?;
    drop(file);
    let total_len = transfer?;

    let got = Digest(*hasher.finalize().as_bytes());
    if got != digest || offset != total_len {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(ParamError::DigestMismatch {
            expected: digest,
            got,
        });
    }
    tokio::fs::rename(&part, dest).await.map_err(io_err(dest))?;
    Ok(FetchReport {
        total_len,
        resumed_from,
    })
}

/// The blake3 digest of a file, streaming. Blocking.
pub fn digest_file(path: &Path) -> std::io::Result<Digest> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(Digest(*hasher.finalize().as_bytes()))
}
