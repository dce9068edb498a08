//! Evidence that frames no honest party: the input is a program of edits (bit flips,
//! truncation, duplicated, dropped, reordered and grafted messages, swapped and flipped
//! signatures, edited payloads) applied to the evidence of honest auctions of one gateway.
//! Whatever comes out, the audit must not find that the gateway deviated.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../protocol/tests/common/honest.rs"]
mod honest;

use std::sync::OnceLock;

use lagrange_protocol::audit::{AuditError, Evidence, audit};
use libfuzzer_sys::fuzz_target;

fn bundles() -> &'static [Evidence] {
    static BUNDLES: OnceLock<Vec<Evidence>> = OnceLock::new();
    BUNDLES.get_or_init(|| honest::honest_bundles(1, 6, true))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, ops)) = data.split_first() else {
        return;
    };
    if let Some(altered) = honest::mutate(bundles(), usize::from(pick), ops) {
        let verdict = audit(&altered);
        assert!(
            !matches!(verdict, Err(AuditError::Deviation { .. })),
            "an honest gateway framed: {verdict:?}"
        );
    }
});
