//! Evidence that frames no honest party: the input is a program of edits (bit flips,
//! truncation, duplicated, dropped, reordered and grafted messages, swapped and flipped
//! signatures, edited payloads) applied to the evidence of honest auctions of one gateway.
//! Whatever comes out, the audit must not find that the gateway deviated.
#[allow(unused_imports)]
#[path = "../../protocol/tests/common/honest.rs"]
mod honest;

use std::sync::OnceLock;

use lagrange_protocol::audit::{AuditError, Evidence, audit};
use lagrange_protocol::messages::MAX_COMMITS_PER_BATCH;

/// The honest bundles, small auctions apart from the one with more committers than slots
/// (a full audit of it checks some 250 signatures, so it is drawn one time in 32).
fn bundles() -> &'static (Vec<Evidence>, Vec<Evidence>) {
    static BUNDLES: OnceLock<(Vec<Evidence>, Vec<Evidence>)> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        honest::honest_bundles(1, 6, true)
            .into_iter()
            .partition(|e| e.transcript.closed.payload.commits.len() < MAX_COMMITS_PER_BATCH)
    })
}

pub fn check(data: &[u8]) {
    let Some((&pick, ops)) = data.split_first() else {
        return;
    };
    let (small, full) = bundles();
    let set = if pick < 248 { small } else { full };
    if let Some(altered) = honest::mutate(set, usize::from(pick), ops) {
        let verdict = audit(&altered);
        assert!(
            !matches!(verdict, Err(AuditError::Deviation { .. })),
            "an honest gateway framed: {verdict:?}"
        );
    }
}
