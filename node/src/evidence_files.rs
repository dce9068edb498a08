//! Evidence files: signed proofs of a peer's misbehaviour, kept beside the store
//! (`<supernet dir>/evidence/`) where an operator finds them and `lagrange-node audit`
//! checks them. A file is written whole or not at all.

use std::path::Path;

use tracing::{error, warn};

/// Writes `bytes` to `dir/name` (through a temporary file and a rename), logging where.
/// Blocking: call it off the async runtime.
pub fn keep(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    let part = dir.join(format!("{name}.part"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&part, bytes))
        .and_then(|()| std::fs::rename(&part, &path));
    match written {
        Ok(()) => error!(path = %path.display(), "evidence kept"),
        Err(e) => warn!(path = %path.display(), error = %e, "cannot write the evidence"),
    }
}
