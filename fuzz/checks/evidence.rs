//! Evidence files (`lagrange-node audit FILE`): an auction's evidence bundle or a prover's
//! equivocation. Whatever decodes is audited or checked, which must not panic.
use lagrange_protocol::audit::{self, Evidence};
use lagrange_protocol::equivocation::Equivocation;

pub fn check(data: &[u8]) {
    if Equivocation::is_file(data) {
        if let Ok(e) = Equivocation::from_bytes(data) {
            let _ = e.check();
        }
    } else if let Ok(evidence) = Evidence::from_bytes(data) {
        let _ = audit::audit(&evidence);
    }
}
