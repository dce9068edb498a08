//! circom artifacts clients and operators hand the node: `.wtns` witnesses, `.r1cs`
//! constraints and `.zkey` proving keys. A witness that decodes must encode back to itself.
//!
//! The `.zkey` reader (ark-circom) panics on some malformed points; `CircomKey::from_bytes`
//! catches that and returns an error.
use lagrange_circuits::circom::{CircomKey, R1cs, Witness};

pub fn check(data: &[u8]) {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(w) = Witness::from_bytes(bytes) {
                let again = Witness::from_bytes(&w.to_bytes()).expect("written witness reads");
                assert_eq!(again.values, w.values);
            }
        }
        1 => {
            let _ = R1cs::from_bytes(bytes);
        }
        _ => {
            let _ = CircomKey::from_bytes(bytes);
        }
    }
}
