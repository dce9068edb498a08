//! `Signed<T>`: a payload, its signer and an ed25519 signature over a domain-separated,
//! versioned encoding.
//!
//! The signed bytes are
//!
//! ```text
//! "lagrange-node/signed" ‖ protocol version (u16 LE) ‖ message kind (u8)
//!   ‖ supernet id length (u8) ‖ supernet id ‖ canonical bincode of the payload
//! ```
//!
//! so a signature made for one message kind, protocol version or Supernet never verifies for
//! another, even if the payload bytes happen to coincide. Payloads contain no hash maps, so
//! their encoding is canonical.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::canonical::canonical_bytes;
use crate::ids::SupernetId;
use crate::keys::{self, KeyError, Keypair, PublicKey, Signature};
use crate::{Digest, PROTOCOL_VERSION};

const SIGNING_DOMAIN: &[u8] = b"lagrange-node/signed";

/// The kind of a signed message. Its byte is part of the signed domain and of every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum MessageKind {
    /// [`crate::messages::BatchAnnouncement`]
    BatchAnnouncement = 1,
    /// [`crate::messages::BidCommit`]
    BidCommit = 2,
    /// [`crate::messages::BidReveal`]
    BidReveal = 3,
    /// [`crate::messages::AuctionResult`]
    AuctionResult = 4,
    /// [`crate::messages::ProverAvailability`]
    ProverAvailability = 5,
    /// [`crate::messages::JobAssignment`]
    JobAssignment = 6,
    /// [`crate::messages::ProofSubmission`]
    ProofSubmission = 7,
    /// [`crate::messages::ProofVerdict`]
    ProofVerdict = 8,
    /// [`crate::messages::CommitsClosed`]
    CommitsClosed = 9,
    /// [`crate::messages::BidReceipt`]
    BidReceipt = 10,
}

/// A payload that can be signed: it names its kind and the Supernet it belongs to.
pub trait SignedPayload: Serialize + DeserializeOwned + Clone {
    /// The kind byte that goes into the signed domain.
    const KIND: MessageKind;

    /// The Supernet this message is for.
    fn supernet(&self) -> &SupernetId;
}

/// Why a signed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    /// The signature or key is invalid.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The message is valid but for another Supernet.
    #[error("message is for supernet {got}, expected {expected}")]
    WrongSupernet {
        /// The Supernet the receiver is in.
        expected: SupernetId,
        /// The Supernet named in the message.
        got: SupernetId,
    },
}

/// A payload with its signer's public key and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The signed message.
    pub payload: T,
    /// Who signed it.
    pub signer: PublicKey,
    /// The signature over [`Signed::signing_bytes`].
    pub signature: Signature,
}

impl<T: SignedPayload> Signed<T> {
    /// The exact bytes a signature covers for `payload`.
    pub fn signing_bytes(payload: &T) -> Vec<u8> {
        let supernet = payload.supernet().as_str().as_bytes();
        let body = canonical_bytes(payload);
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + 4 + supernet.len() + body.len());
        out.extend_from_slice(SIGNING_DOMAIN);
        out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        out.push(T::KIND as u8);
        // Supernet ids are at most 32 bytes (checked on construction), so this fits a byte.
        out.push(supernet.len() as u8);
        out.extend_from_slice(supernet);
        out.extend_from_slice(&body);
        out
    }

    /// Signs `payload` with `key`.
    pub fn sign(payload: T, key: &Keypair) -> Self {
        let signature = key.sign(&Self::signing_bytes(&payload));
        Self {
            payload,
            signer: key.public(),
            signature,
        }
    }

    /// Checks the signature.
    pub fn verify(&self) -> Result<(), SignedError> {
        self.signer
            .verify(&Self::signing_bytes(&self.payload), &self.signature)?;
        Ok(())
    }

    /// Checks the signature and that the message is for `supernet`.
    pub fn verify_for(&self, supernet: &SupernetId) -> Result<(), SignedError> {
        if self.payload.supernet() != supernet {
            return Err(SignedError::WrongSupernet {
                expected: supernet.clone(),
                got: self.payload.supernet().clone(),
            });
        }
        self.verify()
    }

    /// Checks many signatures with one batch verification. Fails if any one is invalid;
    /// callers that need to know which can fall back to [`Signed::verify`] one by one.
    pub fn verify_batch<'a>(items: impl IntoIterator<Item = &'a Self>) -> Result<(), SignedError>
    where
        T: 'a,
    {
        let mut keys = Vec::new();
        let mut bodies = Vec::new();
        let mut sigs = Vec::new();
        for item in items {
            keys.push(item.signer);
            bodies.push(Self::signing_bytes(&item.payload));
            sigs.push(item.signature);
        }
        if keys.is_empty() {
            return Ok(());
        }
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        keys::verify_batch(&keys, &refs, &sigs)?;
        Ok(())
    }

    /// A digest of the whole signed message (payload, signer and signature): its identity in
    /// transcripts and stores.
    pub fn digest(&self) -> Digest {
        let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 signed message digest");
        h.update(&[T::KIND as u8]);
        h.update(&canonical_bytes(self));
        Digest(*h.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::BatchId;

    /// A payload shaped like a bid commit, so that these tests need no message type.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Commit {
        supernet: SupernetId,
        batch_id: BatchId,
        commitment: Digest,
    }

    impl SignedPayload for Commit {
        const KIND: MessageKind = MessageKind::BidCommit;

        fn supernet(&self) -> &SupernetId {
            &self.supernet
        }
    }

    fn commit(supernet: &str, batch: u8) -> Commit {
        Commit {
            supernet: SupernetId::new(supernet).unwrap(),
            batch_id: BatchId([batch; 16]),
            commitment: Digest([9; 32]),
        }
    }

    #[test]
    fn sign_verify_round_trip() {
        let kp = Keypair::insecure_from_seed(1);
        let signed = Signed::sign(commit("a", 1), &kp);
        signed.verify().unwrap();
        signed.verify_for(&SupernetId::new("a").unwrap()).unwrap();
        assert_eq!(signed.signer, kp.public());
    }

    #[test]
    fn signature_for_supernet_a_fails_for_b() {
        let kp = Keypair::insecure_from_seed(1);
        let signed = Signed::sign(commit("a", 1), &kp);
        let mut moved = signed.clone();
        moved.payload.supernet = SupernetId::new("b").unwrap();
        assert!(matches!(moved.verify(), Err(SignedError::Key(_))));
        assert!(matches!(
            signed.verify_for(&SupernetId::new("b").unwrap()),
            Err(SignedError::WrongSupernet { .. })
        ));
    }

    #[test]
    fn signature_for_batch_1_fails_for_batch_2() {
        let kp = Keypair::insecure_from_seed(1);
        let mut signed = Signed::sign(commit("a", 1), &kp);
        signed.payload.batch_id = BatchId([2; 16]);
        assert!(signed.verify().is_err());
    }

    #[test]
    fn another_signer_is_rejected() {
        let kp = Keypair::insecure_from_seed(1);
        let mut signed = Signed::sign(commit("a", 1), &kp);
        signed.signer = Keypair::insecure_from_seed(2).public();
        assert!(signed.verify().is_err());
    }

    #[test]
    fn kinds_are_domain_separated() {
        // The same payload bytes signed under another kind must not verify: the kind byte
        // is part of the signed domain.
        let kp = Keypair::insecure_from_seed(1);
        let c = commit("a", 1);
        let mut bytes = Signed::<Commit>::signing_bytes(&c);
        let kind_at = SIGNING_DOMAIN.len() + 2;
        assert_eq!(bytes[kind_at], MessageKind::BidCommit as u8);
        bytes[kind_at] = MessageKind::BidReveal as u8;
        let sig = kp.sign(&bytes);
        let forged = Signed {
            payload: c,
            signer: kp.public(),
            signature: sig,
        };
        assert!(forged.verify().is_err());
    }

    #[test]
    fn batch_verify_accepts_good_and_rejects_one_bad() {
        let items: Vec<_> = (0..16)
            .map(|i| Signed::sign(commit("a", i as u8), &Keypair::insecure_from_seed(i)))
            .collect();
        Signed::verify_batch(&items).unwrap();
        let mut bad = items.clone();
        bad[7].payload.commitment = Digest([0; 32]);
        assert!(Signed::verify_batch(&bad).is_err());
    }
}
