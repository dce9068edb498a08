//! The Solidity source of the coprocessor's Poseidon hash and its chains' first state,
//! written from the very parameters the circuits use ([`crate::poseidon`]), so that a chain
//! computes data-set commitments bit for bit as the circuit proves them. The repository
//! commits it as `contracts/src/Poseidon.sol`, and a test checks the file is what this
//! writes.

use std::fmt::Write;

use ark_bn254::Fr;

use crate::{evm, poseidon};

fn hex(x: &Fr) -> String {
    format!("0x{}", ::hex::encode(evm::fr_word(x)))
}

/// The library's source.
pub fn poseidon_library() -> String {
    let config = poseidon::config();
    let width = config.rate + config.capacity;
    assert_eq!(width, 3, "the generator writes a width-3 permutation");
    assert_eq!(config.alpha, 5, "the generator writes the x^5 S-box");
    let mut s = String::new();
    let _ = write!(
        s,
        r#"// SPDX-License-Identifier: MIT OR Apache-2.0
// GENERATED from the circuits' Poseidon parameters (circuits/src/solidity.rs);
// do not edit: a test fails unless this file is what the generator writes.
pragma solidity 0.8.37;

// The first state of every coprocessor data-set chain: H(tag, 0) for the tag
// "lagrange/coprocessor/genesis/v1" read as a little-endian integer.
uint256 constant COPROCESSOR_GENESIS = {genesis};

/// @title The coprocessor's Poseidon hash over the BN254 scalar field.
/// @notice Width 3 (capacity 1, rate 2), S-box x^5, {full} full and {partial} partial rounds,
/// constants from the Grain LFSR: the instance the network's chunk circuits prove.
/// `hash2(a, b)` absorbs (a, b) into a zero state, permutes once and squeezes the first
/// rate element, as arkworks' Poseidon sponge does; `sponge(e)` does the same for any
/// number of elements (the zkML commitments).
library Poseidon {{
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// H(a, b) for a, b below R (larger values are reduced first).
    function hash2(uint256 a, uint256 b) internal pure returns (uint256 out) {{
        assembly ("memory-safe") {{
            let r := R
"#,
        full = config.full_rounds,
        partial = config.partial_rounds,
        genesis = hex(&crate::coprocessor::genesis()),
    );
    s.push_str(&rounds_body(
        config,
        "            let s0 := 0\n            let s1 := mod(a, r)\n            let s2 := mod(b, r)\n",
    ));
    s.push_str("            out := s1\n        }\n    }\n");
    let _ = write!(
        s,
        r#"
    /// The permutation of the state (i0, i1, i2), each below R.
    function permute(uint256 i0, uint256 i1, uint256 i2)
        internal
        pure
        returns (uint256 o0, uint256 o1, uint256 o2)
    {{
        assembly ("memory-safe") {{
            let r := R
"#
    );
    s.push_str(&rounds_body(
        config,
        "            let s0 := i0\n            let s1 := i1\n            let s2 := i2\n",
    ));
    s.push_str(
        r#"            o0 := s0
            o1 := s1
            o2 := s2
        }
    }

    /// arkworks' Poseidon sponge over `e` (each below R): the elements are added into the
    /// rate, two to a permutation, the state permuted once more, and the first rate element
    /// squeezed. `sponge([a, b])` is `hash2(a, b)`.
    function sponge(uint256[] memory e) internal pure returns (uint256) {
        uint256 s0;
        uint256 s1;
        uint256 s2;
        uint256 next;
        for (uint256 i = 0; i < e.length; ++i) {
            if (next == 2) {
                (s0, s1, s2) = permute(s0, s1, s2);
                next = 0;
            }
            if (next == 0) {
                s1 = addmod(s1, e[i], R);
            } else {
                s2 = addmod(s2, e[i], R);
            }
            ++next;
        }
        (, s1,) = permute(s0, s1, s2);
        return s1;
    }
}
"#,
    );
    s
}

/// The helpers, the state's first values (`init`) and every round of the permutation, as
/// the body of an assembly block whose state ends in `s0`, `s1`, `s2`.
fn rounds_body(
    config: &ark_crypto_primitives::sponge::poseidon::PoseidonConfig<crate::curve::Fr>,
    init: &str,
) -> String {
    let half = config.full_rounds / 2;
    let rounds = config.full_rounds + config.partial_rounds;
    let mut s = String::from(
        "            function sbox(x, q) -> y {\n                let x2 := mulmod(x, x, q)\n                y := mulmod(mulmod(x2, x2, q), x, q)\n            }\n            function mix(a0, a1, a2, q) -> b0, b1, b2 {\n",
    );
    let names = ["a0", "a1", "a2"];
    for (i, row) in config.mds.iter().enumerate() {
        let terms: Vec<String> = row
            .iter()
            .zip(names)
            .map(|(m, a)| format!("mulmod({a}, {}, q)", hex(m)))
            .collect();
        let _ = writeln!(
            s,
            "                b{i} := addmod(addmod({}, {}, q), {}, q)",
            terms[0], terms[1], terms[2]
        );
    }
    s.push_str("            }\n");
    s.push_str(init);
    for round in 0..rounds {
        let full = round < half || round >= half + config.partial_rounds;
        let ark = &config.ark[round];
        let _ = writeln!(
            s,
            "            // round {round} ({})",
            if full { "full" } else { "partial" }
        );
        for (j, c) in ark.iter().enumerate() {
            if full || j == 0 {
                let _ = writeln!(
                    s,
                    "            s{j} := sbox(addmod(s{j}, {}, r), r)",
                    hex(c)
                );
            } else {
                let _ = writeln!(s, "            s{j} := addmod(s{j}, {}, r)", hex(c));
            }
        }
        s.push_str("            s0, s1, s2 := mix(s0, s1, s2, r)\n");
    }
    s
}
