//! Parameter files a node fetches from peers: a compressed proving key, and a zkML model's
//! keys file. What decodes must encode back to the same bytes.
use lagrange_circuits::params::decode_proving_key;
use lagrange_circuits::zkml::ModelKeys;

pub fn check(data: &[u8]) {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        if let Ok(pk) = decode_proving_key(bytes) {
            assert_eq!(lagrange_circuits::encoding::to_bytes(&pk), bytes);
        }
    } else if let Ok(keys) = ModelKeys::from_bytes(bytes) {
        assert_eq!(keys.to_bytes(), bytes);
    }
}
