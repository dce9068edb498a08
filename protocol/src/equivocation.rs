//! Proof that a prover sealed two different bids for one batch.
//!
//! A prover commits once per batch. Two commits signed by the same key for the same batch
//! with different commitments cannot both be honest bids: whichever it reveals, it could
//! have chosen after seeing others' reveals. The gateway refuses the second commit and
//! keeps both as an [`Equivocation`], which anyone can check offline with
//! [`Equivocation::check`]: it needs nothing but the two signed messages.
//!
//! An equivocation is recorded, not slashed: a prover that crashed after committing and
//! bid again with a fresh salt looks the same, and no honest prover is penalized.

use serde::{Deserialize, Serialize};

use crate::audit::{EvidenceError, from_file, to_file};
use crate::messages::BidCommit;
use crate::signed::{Signed, SignedError};
use crate::{BatchId, PublicKey};

const MAGIC: &[u8; 8] = b"LGRNEQV1";

/// Two different commits by one prover for one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The commit the gateway took.
    pub first: Signed<BidCommit>,
    /// The different commit that came after it.
    pub second: Signed<BidCommit>,
}

/// Why two commits are not an equivocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotEquivocation {
    /// A signature does not verify.
    #[error("the {which} commit's signature: {source}")]
    Signature {
        /// "first" or "second".
        which: &'static str,
        /// The failure.
        source: SignedError,
    },
    /// Different signers.
    #[error("the commits have different signers")]
    Signers,
    /// Different Supernets or batches.
    #[error("the commits are for different batches")]
    Batches,
    /// The same commitment (a resend, not an equivocation).
    #[error("the commits seal the same bids")]
    Same,
}

impl Equivocation {
    /// The pair, if it is an equivocation.
    pub fn new(
        first: Signed<BidCommit>,
        second: Signed<BidCommit>,
    ) -> Result<Self, NotEquivocation> {
        let e = Self { first, second };
        e.check()?;
        Ok(e)
    }

    /// Checks both signatures and that the commits are the same prover's, for the same
    /// batch, with different commitments. Returns the prover and the batch.
    pub fn check(&self) -> Result<(PublicKey, BatchId), NotEquivocation> {
        for (which, c) in [("first", &self.first), ("second", &self.second)] {
            c.verify()
                .map_err(|source| NotEquivocation::Signature { which, source })?;
        }
        let (a, b) = (&self.first.payload, &self.second.payload);
        if self.first.signer != self.second.signer {
            return Err(NotEquivocation::Signers);
        }
        if a.supernet != b.supernet || a.batch_id != b.batch_id {
            return Err(NotEquivocation::Batches);
        }
        if a.commitment == b.commitment {
            return Err(NotEquivocation::Same);
        }
        Ok((self.first.signer, a.batch_id))
    }

    /// The file form: magic, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_file(MAGIC, self)
    }

    /// Reads the file form, with the evidence size limit and nothing left over.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EvidenceError> {
        from_file(MAGIC, bytes)
    }

    /// Whether `bytes` start like an equivocation file.
    pub fn is_file(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Digest, Keypair, SupernetId};

    fn commit(key: &Keypair, batch: u8, seal: u8) -> Signed<BidCommit> {
        Signed::sign(
            BidCommit {
                supernet: SupernetId::new("s").unwrap(),
                batch_id: BatchId([batch; 16]),
                commitment: Digest([seal; 32]),
            },
            key,
        )
    }

    #[test]
    fn two_different_commits_are_an_equivocation_anyone_can_check() {
        let key = Keypair::insecure_from_seed(1);
        let e = Equivocation::new(commit(&key, 1, 1), commit(&key, 1, 2)).unwrap();
        let read = Equivocation::from_bytes(&e.to_bytes()).unwrap();
        assert_eq!(read.check().unwrap(), (key.public(), BatchId([1; 16])));
        assert!(Equivocation::is_file(&e.to_bytes()));
    }

    #[test]
    fn resends_other_batches_other_signers_and_forgeries_are_not() {
        let key = Keypair::insecure_from_seed(1);
        let other = Keypair::insecure_from_seed(2);
        let same = Equivocation::new(commit(&key, 1, 1), commit(&key, 1, 1));
        assert_eq!(same.unwrap_err(), NotEquivocation::Same);
        let batches = Equivocation::new(commit(&key, 1, 1), commit(&key, 2, 2));
        assert_eq!(batches.unwrap_err(), NotEquivocation::Batches);
        let signers = Equivocation::new(commit(&key, 1, 1), commit(&other, 1, 2));
        assert_eq!(signers.unwrap_err(), NotEquivocation::Signers);
        let mut forged = commit(&key, 1, 2);
        forged.payload.commitment = Digest([3; 32]);
        assert!(matches!(
            Equivocation::new(commit(&key, 1, 1), forged),
            Err(NotEquivocation::Signature {
                which: "second",
                ..
            })
        ));
        let mut bytes = Equivocation::new(commit(&key, 1, 1), commit(&key, 1, 2))
            .unwrap()
            .to_bytes();
        bytes.push(0);
        assert!(Equivocation::from_bytes(&bytes).is_err());
    }
}
