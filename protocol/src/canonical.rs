//! The canonical bytes of a protocol value: the one encoding that signatures, bid commitments
//! and transcript hashes are computed over. A leaf: it knows serde and bincode, no protocol
//! type, so every module that signs or hashes can use it without depending on the wire codec.

use serde::Serialize;

/// The canonical bincode bytes of a value: what signatures, commitments and transcripts
/// hash. Deterministic because protocol types hold no hash maps.
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Encoding into a Vec only fails for types serde cannot describe to bincode (maps or
    // sequences of unknown length); protocol types have none, so this cannot fail.
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("protocol types always encode")
}
