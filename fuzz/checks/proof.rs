//! Proofs, public inputs and verifying keys as provers and results carry them: compressed,
//! every point checked, nothing left over. What decodes must encode to the same bytes.
use lagrange_circuits::encoding;

pub fn check(data: &[u8]) {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(proof) = encoding::decode_proof(bytes) {
                assert_eq!(encoding::encode_proof(&proof), bytes);
            }
        }
        1 => {
            if let Ok(inputs) = encoding::decode_public_inputs(bytes) {
                assert_eq!(encoding::encode_public_inputs(&inputs), bytes);
            }
        }
        _ => {
            if let Ok(vk) = encoding::decode_verifying_key(bytes) {
                assert_eq!(encoding::encode_verifying_key(&vk), bytes);
            }
        }
    }
}
