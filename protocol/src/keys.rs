//! Ed25519 keys and signatures, and their mapping to libp2p peer ids.
//!
//! A node has one ed25519 key. It is both its libp2p identity (so its [`PeerId`] is derived
//! from it) and the key that signs its protocol messages, which lets a receiver compare "who
//! signed this" with "who sent this" and with a Supernet's allowlist of peer ids.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use libp2p_identity::PeerId;

use crate::bytes::byte_newtype;

byte_newtype!(
    /// An ed25519 public key: a signer's identity in every signed message.
    PublicKey,
    32
);

byte_newtype!(
    /// An ed25519 signature.
    Signature,
    64
);

/// Errors from keys and signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The 32 bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    InvalidPublicKey,
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    BadSignature,
    /// The peer id is not an inline ed25519 key, so no public key can be read from it.
    #[error("peer id {0} does not carry an ed25519 public key")]
    NotEd25519PeerId(PeerId),
}

impl PublicKey {
    /// The curve point, or an error if the bytes are not one.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidPublicKey)
    }

    /// Checks `signature` over `message` with the strict (non-malleable) rule.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let key = self.verifying_key()?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// The libp2p peer id of the node that owns this key.
    pub fn peer_id(&self) -> Result<PeerId, KeyError> {
        let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.0)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        Ok(libp2p_identity::PublicKey::from(key).to_peer_id())
    }

    /// Recovers the public key inlined in an ed25519 peer id.
    pub fn from_peer_id(peer: &PeerId) -> Result<Self, KeyError> {
        const IDENTITY_MULTIHASH: u64 = 0;
        let hash = peer.as_ref();
        if hash.code() != IDENTITY_MULTIHASH {
            return Err(KeyError::NotEd25519PeerId(*peer));
        }
        let key = libp2p_identity::PublicKey::try_decode_protobuf(hash.digest())
            .ok()
            .and_then(|k| k.try_into_ed25519().ok())
            .ok_or(KeyError::NotEd25519PeerId(*peer))?;
        Ok(PublicKey(key.to_bytes()))
    }
}

/// A node's signing key.
#[derive(Clone)]
pub struct Keypair {
    secret: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public())
    }
}

impl Keypair {
    /// The key with this 32-byte secret. Callers draw the secret from a CSPRNG.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Self {
            secret: SigningKey::from_bytes(&secret),
        }
    }

    /// A key derived from a public seed, for tests and local devnets only. **Insecure:**
    /// anyone who knows the seed knows the secret key.
    pub fn insecure_from_seed(seed: u64) -> Self {
        let secret = blake3::derive_key(
            "lagrange-node v1 insecure deterministic test key",
            &seed.to_le_bytes(),
        );
        Self::from_secret_bytes(secret)
    }

    /// The secret bytes, for writing a key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.secret.verifying_key().to_bytes())
    }

    /// The libp2p peer id of this key.
    pub fn peer_id(&self) -> PeerId {
        libp2p_identity::PublicKey::from(
            libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.public().0)
                .expect("a public key derived from a signing key is a valid point"),
        )
        .to_peer_id()
    }

    /// The same key as a libp2p identity, for the swarm's transport and gossip signing.
    pub fn to_libp2p(&self) -> libp2p_identity::Keypair {
        libp2p_identity::Keypair::ed25519_from_bytes(self.secret.to_bytes())
            .expect("32 secret bytes always make an ed25519 key")
    }

    /// Signs raw bytes. Protocol messages go through [`crate::Signed::sign`] instead, which
    /// adds the domain separation.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.secret.sign(message).to_bytes())
    }
}

/// Verifies many `(key, message, signature)` triples at once; about twice as fast as one by
/// one. Fails if any one of them is invalid, without saying which.
pub fn verify_batch(
    keys: &[PublicKey],
    messages: &[&[u8]],
    signatures: &[Signature],
) -> Result<(), KeyError> {
    let keys = keys
        .iter()
        .map(PublicKey::verifying_key)
        .collect::<Result<Vec<_>, _>>()?;
    let sigs: Vec<_> = signatures
        .iter()
        .map(|s| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    ed25519_dalek::verify_batch(messages, &sigs, &keys).map_err(|_| KeyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trips_and_matches_libp2p() {
        let kp = Keypair::insecure_from_seed(3);
        let peer = kp.peer_id();
        assert_eq!(peer, kp.to_libp2p().public().to_peer_id());
        assert_eq!(kp.public().peer_id().unwrap(), peer);
        assert_eq!(PublicKey::from_peer_id(&peer).unwrap(), kp.public());
    }

    #[test]
    fn sign_verify_and_reject_tampering() {
        let kp = Keypair::insecure_from_seed(1);
        let sig = kp.sign(b"hello");
        kp.public().verify(b"hello", &sig).unwrap();
        assert_eq!(
            kp.public().verify(b"hellp", &sig),
            Err(KeyError::BadSignature)
        );
        let other = Keypair::insecure_from_seed(2).public();
        assert_eq!(other.verify(b"hello", &sig), Err(KeyError::BadSignature));
    }

    #[test]
    fn libp2p_signatures_are_ours() {
        let kp = Keypair::insecure_from_seed(9);
        let sig = kp.to_libp2p().sign(b"m").unwrap();
        let sig: [u8; 64] = sig.try_into().unwrap();
        kp.public().verify(b"m", &Signature(sig)).unwrap();
    }

    #[test]
    fn batch_verification_catches_one_bad_signature() {
        let kps: Vec<_> = (0..8).map(Keypair::insecure_from_seed).collect();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<_> = kps.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let keys: Vec<_> = kps.iter().map(Keypair::public).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        verify_batch(&keys, &refs, &sigs).unwrap();
        sigs.swap(2, 3);
        assert!(verify_batch(&keys, &refs, &sigs).is_err());
    }
}
