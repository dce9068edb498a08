//! The parameter protocol, `/lagrange/<supernet>/params/1`: content-addressed transfer of
//! circuit parameter files, apart from the roles' protocol.
//!
//! A file is named by the blake3 digest of its bytes (the digest the Supernet config pins).
//! A [`ParamRequest`] asks for a chunk at an offset; a [`ParamResponse`] carries at most
//! [`lagrange_protocol::codec::MAX_PARAM_CHUNK`] bytes and the file's claimed length, or a
//! refusal. [`fetch`] downloads and checks a file; [`ParamServer`] answers from the files a
//! node holds.

mod fetch;
mod serve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use lagrange_protocol::messages::{ParamRequest, ParamResponse};

pub use fetch::{
    FetchReport, MAX_PARAM_FILE, ParamError, digest_file, fetch, fetch_with_progress, part_path,
};
pub use serve::{CHUNKS_PER_PEER, ParamServer, read_chunk};

use super::frames::FrameCodec;
use lagrange_protocol::Digest;

/// The parameter protocol's request-response codec.
pub type ParamCodec = FrameCodec<ParamRequest, ParamResponse>;

/// Parameter files a node serves to peers, by digest.
pub type ParamFiles = Arc<BTreeMap<Digest, PathBuf>>;
