//! A Merkle sum tree over the provers' weights: one root (a hash and the total weight)
//! commits to every `(prover, weight)` pair, and a proof of `log2(n)` nodes shows one
//! prover its own weight and the total, or shows an auditor the weight a committer's slot
//! rank was computed with ([`crate::sortition`]), without anyone fetching the whole table.
//!
//! Leaves are in key order. Each node carries the sum of the weights under it, and its hash
//! covers its children's hashes and sums, so a proof fixes the total as well as the leaf: a
//! gateway cannot show one prover a smaller total than another. A level of odd width
//! carries its last node up unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::keys::PublicKey;

/// A node: its hash and the total weight of the leaves under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Commits to the leaves under it and their weights.
    pub hash: Digest,
    /// The sum of their weights.
    pub sum: u64,
}

/// Why a weight table has no tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The weights add up to more than a `u64`.
    #[error("the weights add up to more than {}", u64::MAX)]
    Overflow,
}

fn leaf(prover: &PublicKey, weight: u64) -> Node {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 weight leaf");
    h.update(prover.as_bytes());
    h.update(&weight.to_le_bytes());
    Node {
        hash: Digest(*h.finalize().as_bytes()),
        sum: weight,
    }
}

fn parent(left: &Node, right: &Node) -> Option<Node> {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 weight node");
    h.update(left.hash.as_bytes());
    h.update(&left.sum.to_le_bytes());
    h.update(right.hash.as_bytes());
    h.update(&right.sum.to_le_bytes());
    Some(Node {
        hash: Digest(*h.finalize().as_bytes()),
        sum: left.sum.checked_add(right.sum)?,
    })
}

/// The tree of one weight table.
#[derive(Debug, Clone)]
pub struct WeightTree {
    keys: Vec<PublicKey>,
    /// Level 0 is the leaves; the last level holds the root alone.
    levels: Vec<Vec<Node>>,
}

/// The nodes that take one leaf to the root, and where the leaf sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightProof {
    /// The leaf's index in key order.
    pub index: u32,
    /// How many leaves the tree has.
    pub leaves: u32,
    /// The sibling at each level that has one, leaf level first.
    pub siblings: Vec<Node>,
}

/// A prover's weight with its proof against a batch's weight root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotWeight {
    /// The weight.
    pub weight: u64,
    /// Its proof.
    pub proof: WeightProof,
}

impl SlotWeight {
    /// Whether this proves `prover`'s weight under `root`.
    pub fn verify(&self, root: &Node, prover: &PublicKey) -> bool {
        self.proof.verify(root, prover, self.weight)
    }
}

impl WeightTree {
    /// The tree of `weights`.
    pub fn new(weights: &BTreeMap<PublicKey, u64>) -> Result<Self, MerkleError> {
        let keys: Vec<PublicKey> = weights.keys().copied().collect();
        let mut levels = vec![weights.iter().map(|(k, w)| leaf(k, *w)).collect::<Vec<_>>()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let mut up = Vec::with_capacity(below.len().div_ceil(2));
            for pair in below.chunks(2) {
                if let [left, rest @ ..] = pair {
                    up.push(match rest.first() {
                        Some(right) => parent(left, right).ok_or(MerkleError::Overflow)?,
                        None => *left,
                    });
                }
            }
            levels.push(up);
        }
        Ok(Self { keys, levels })
    }

    /// The tree of an empty table.
    pub fn empty() -> Self {
        Self {
            keys: Vec::new(),
            levels: vec![Vec::new()],
        }
    }

    /// The root: the table's hash and total weight (an empty table: zero and nothing).
    pub fn root(&self) -> Node {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(Node {
                hash: Digest([0; 32]),
                sum: 0,
            })
    }

    /// `prover`'s weight, if it is in the table.
    pub fn weight(&self, prover: &PublicKey) -> Option<u64> {
        let index = self.keys.binary_search(prover).ok()?;
        self.levels.first()?.get(index).map(|leaf| leaf.sum)
    }

    /// `prover`'s weight with its proof, if it is in the table.
    pub fn slot_weight(&self, prover: &PublicKey) -> Option<SlotWeight> {
        Some(SlotWeight {
            weight: self.weight(prover)?,
            proof: self.proof(prover)?,
        })
    }

    /// The proof of `prover`'s leaf, if it is in the table.
    pub fn proof(&self, prover: &PublicKey) -> Option<WeightProof> {
        let index = self.keys.binary_search(prover).ok()?;
        let mut siblings = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            if let Some(s) = level.get(i ^ 1) {
                siblings.push(*s);
            }
            i /= 2;
        }
        Some(WeightProof {
            index: u32::try_from(index).ok()?,
            leaves: u32::try_from(self.keys.len()).ok()?,
            siblings,
        })
    }
}

impl WeightProof {
    /// Whether this proves that `prover` weighs `weight` in the table whose root is `root`
    /// (whose `sum` is then the total).
    pub fn verify(&self, root: &Node, prover: &PublicKey, weight: u64) -> bool {
        if self.index >= self.leaves {
            return false;
        }
        let (mut node, mut i, mut width) = (leaf(prover, weight), self.index, self.leaves);
        let mut siblings = self.siblings.iter();
        while width > 1 {
            let has_sibling = (i ^ 1) < width;
            if has_sibling {
                let Some(s) = siblings.next() else {
                    return false;
                };
                let joined = if i % 2 == 0 {
                    parent(&node, s)
                } else {
                    parent(s, &node)
                };
                let Some(joined) = joined else {
                    return false;
                };
                node = joined;
            }
            i /= 2;
            width = width.div_ceil(2);
        }
        siblings.next().is_none() && node == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    fn table(n: u64) -> BTreeMap<PublicKey, u64> {
        (0..n)
            .map(|i| (Keypair::insecure_from_seed(i).public(), 10 + i * 3))
            .collect()
    }

    #[test]
    fn every_leaf_proves_its_weight_and_the_total_at_every_size() {
        for n in 1..=40 {
            let t = table(n);
            let tree = WeightTree::new(&t).expect("fits");
            let root = tree.root();
            assert_eq!(root.sum, t.values().sum::<u64>());
            for (k, w) in &t {
                let proof = tree.proof(k).expect("in the table");
                assert!(proof.verify(&root, k, *w), "n={n}");
                assert_eq!(tree.weight(k), Some(*w));
                assert!(tree.slot_weight(k).expect("in the table").verify(&root, k));
                assert!(proof.siblings.len() <= (n as f64).log2().ceil() as usize);
                // Another weight, another key, another root: refused.
                assert!(!proof.verify(&root, k, w + 1));
                let other = Keypair::insecure_from_seed(1_000).public();
                assert!(!proof.verify(&root, &other, *w));
                let lighter = Node {
                    sum: root.sum - 1,
                    ..root
                };
                assert!(!proof.verify(&lighter, k, *w));
            }
        }
    }

    #[test]
    fn a_tampered_proof_is_refused() {
        let t = table(13);
        let tree = WeightTree::new(&t).expect("fits");
        let root = tree.root();
        let (k, w) = t.iter().nth(6).expect("13 leaves");
        let good = tree.proof(k).expect("in the table");
        let mut bad = good.clone();
        bad.siblings[1].sum += 1;
        assert!(!bad.verify(&root, k, *w));
        let mut bad = good.clone();
        bad.siblings.pop();
        assert!(!bad.verify(&root, k, *w));
        let mut bad = good.clone();
        bad.index += 1;
        assert!(!bad.verify(&root, k, *w));
        let mut bad = good;
        bad.leaves = 1;
        assert!(!bad.verify(&root, k, *w));
    }

    #[test]
    fn a_total_past_u64_is_refused_and_an_empty_table_has_a_zero_root() {
        let t: BTreeMap<PublicKey, u64> = (0..3)
            .map(|i| (Keypair::insecure_from_seed(i).public(), u64::MAX / 2))
            .collect();
        assert_eq!(WeightTree::new(&t).err(), Some(MerkleError::Overflow));
        let empty = WeightTree::new(&BTreeMap::new()).expect("empty");
        assert_eq!(empty.root().sum, 0);
        assert!(
            empty
                .proof(&Keypair::insecure_from_seed(0).public())
                .is_none()
        );
    }
}
