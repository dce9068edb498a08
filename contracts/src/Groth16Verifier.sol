// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// @title Groth16 verifier over BN254 for one circuit.
/// @notice One contract for every circuit the network serves: it is compiled once, and each
/// deployment fixes one verifying key, passed to the constructor and kept as code (a data
/// contract written at deployment, read back with EXTCODECOPY), so nothing about the key can
/// change afterwards. It checks one proof, or many proofs of the same circuit in one pairing
/// check by a random linear combination whose randomness is derived from the proofs.
/// @dev Encodings (all 32-byte big-endian words):
///  - a G1 point is (x, y); a G2 point is (x.c1, x.c0, y.c1, y.c0), the order of the
///    pairing precompile; the point at infinity is all zeros;
///  - the key is alpha (G1), beta, gamma, delta (G2), then IC_0 .. IC_n (G1): 14 + 2(n+1) words
///    for a circuit of n public inputs;
///  - a proof is A (G1), B (G2), C (G1): 8 words.
/// A proof is valid iff e(A, B) = e(alpha, beta) e(IC_0 + sum_j x_j IC_j, gamma) e(C, delta).
contract Groth16Verifier {
    /// The BN254 scalar field: public inputs and scalars live here.
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// The BN254 base field: point coordinates live here.
    uint256 internal constant Q =
        21888242871839275222246405745257275088696311157297823662689037894645226208583;

    uint256 internal constant KEY_FIXED_WORDS = 14;

    /// The data contract holding the verifying key (its code is a zero byte, then the key).
    address public immutable keyStore;
    /// Public inputs per proof.
    uint256 public immutable inputCount;
    /// keccak256 of the verifying key as deployed: names the circuit.
    bytes32 public immutable keyHash;

    /// The key passed to the constructor is not 14 + 2(n+1) words for some n, or a
    /// coordinate is not in the base field.
    error MalformedKey();
    /// The data contract could not be created.
    error KeyStoreFailed();
    /// A proof comes with the wrong number of public inputs.
    error InputCount(uint256 expected, uint256 got);
    /// A public input is not a canonical scalar (it is at least the field's modulus).
    error InputNotInField(uint256 proof, uint256 input);
    /// A batch holds no proofs, or its proofs and input lists differ in number.
    error BatchShape(uint256 proofs, uint256 inputLists);

    constructor(bytes memory key) {
        if (key.length % 32 != 0 || key.length < 32 * (KEY_FIXED_WORDS + 2)) revert MalformedKey();
        uint256 words = key.length / 32;
        if ((words - KEY_FIXED_WORDS) % 2 != 0) revert MalformedKey();
        for (uint256 i = 0; i < words; i++) {
            uint256 w;
            assembly ("memory-safe") {
                w := mload(add(add(key, 32), mul(i, 32)))
            }
            if (w >= Q) revert MalformedKey();
        }
        inputCount = (words - KEY_FIXED_WORDS) / 2 - 1;
        keyHash = keccak256(key);
        // Init code that returns everything after its 14 bytes as the new contract's code.
        bytes memory init = abi.encodePacked(
            hex"63", uint32(key.length + 1), hex"80600e6000396000f3", hex"00", key
        );
        address store;
        assembly ("memory-safe") {
            store := create(0, add(init, 32), mload(init))
        }
        if (store == address(0)) revert KeyStoreFailed();
        keyStore = store;
    }

    /// The verifying key, in the encoding above.
    function verifyingKey() public view returns (bytes memory key) {
        address store = keyStore;
        uint256 len = 32 * (KEY_FIXED_WORDS + 2 * (inputCount + 1));
        key = new bytes(len);
        assembly ("memory-safe") {
            extcodecopy(store, add(key, 32), 1, len)
        }
    }

    /// Whether one proof is valid for `input`. Reverts if `input` has the wrong length or
    /// a value outside the scalar field; returns false for any proof that does not verify,
    /// including points off the curve or out of the field.
    function verifyProof(uint256[8] calldata proof, uint256[] calldata input)
        external
        view
        returns (bool)
    {
        checkInputs(0, input);
        bytes memory key = verifyingKey();
        // IC(x) = IC_0 + sum_j x_j IC_j
        (bool ok, uint256 lx, uint256 ly) = (true, word(key, 14), word(key, 15));
        for (uint256 j = 0; j < input.length && ok; j++) {
            (ok, lx, ly) = mulAdd(lx, ly, word(key, 16 + 2 * j), word(key, 17 + 2 * j), input[j]);
        }
        // The pairing precompile checks every other coordinate; A's y is negated here first.
        if (!ok || proof[1] >= Q) return false;
        uint256[24] memory p;
        (p[0], p[1]) = (proof[0], negate(proof[1]));
        (p[2], p[3], p[4], p[5]) = (proof[2], proof[3], proof[4], proof[5]);
        (p[6], p[7]) = (word(key, 0), word(key, 1));
        (p[8], p[9], p[10], p[11]) = (word(key, 2), word(key, 3), word(key, 4), word(key, 5));
        (p[12], p[13]) = (lx, ly);
        (p[14], p[15], p[16], p[17]) = (word(key, 6), word(key, 7), word(key, 8), word(key, 9));
        (p[18], p[19]) = (proof[6], proof[7]);
        (p[20], p[21], p[22], p[23]) = (word(key, 10), word(key, 11), word(key, 12), word(key, 13));
        return pairing(p);
    }

    /// Whether every proof in the batch is valid for its inputs, in one pairing check of
    /// `n + 3` pairs. The batch passes with a false proof in it with probability at most
    /// 2^-128: its scalars are drawn from a hash of the key and the whole batch. Reverts
    /// on a malformed batch as `verifyProof` does, and on an empty one.
    function verifyBatch(uint256[8][] calldata proofs, uint256[][] calldata inputs)
        external
        view
        returns (bool)
    {
        uint256 n = proofs.length;
        if (n == 0 || inputs.length != n) revert BatchShape(n, inputs.length);
        for (uint256 i = 0; i < n; i++) {
            checkInputs(i, inputs[i]);
        }
        bytes memory key = verifyingKey();
        bytes32 seed = keccak256(abi.encode(keyHash, proofs, inputs));
        // Pairs: (-rho_i A_i, B_i) for each proof, then ((sum rho) alpha, beta),
        // (sum rho_i IC(x_i), gamma), (sum rho_i C_i, delta).
        uint256[] memory p = new uint256[](6 * (n + 3));
        uint256 rhoSum;
        uint256[] memory icScalars = new uint256[](inputCount);
        (bool ok, uint256 cx, uint256 cy) = (true, 0, 0);
        for (uint256 i = 0; i < n && ok; i++) {
            uint256 rho = uint256(keccak256(abi.encode(seed, i))) >> 128;
            rhoSum = addmod(rhoSum, rho, R);
            for (uint256 j = 0; j < inputCount; j++) {
                icScalars[j] = addmod(icScalars[j], mulmod(rho, inputs[i][j], R), R);
            }
            uint256 ax;
            uint256 ay;
            (ok, ax, ay) = mulAdd(0, 0, proofs[i][0], proofs[i][1], rho);
            if (ok) (ok, cx, cy) = mulAdd(cx, cy, proofs[i][6], proofs[i][7], rho);
            uint256 k = 6 * i;
            (p[k], p[k + 1]) = (ax, negate(ay));
            (p[k + 2], p[k + 3], p[k + 4], p[k + 5]) =
                (proofs[i][2], proofs[i][3], proofs[i][4], proofs[i][5]);
        }
        if (!ok) return false;
        uint256 o = 6 * n;
        (ok, p[o], p[o + 1]) = mulAdd(0, 0, word(key, 0), word(key, 1), rhoSum);
        (p[o + 2], p[o + 3], p[o + 4], p[o + 5]) = (word(key, 2), word(key, 3), word(key, 4), word(key, 5));
        // sum_i rho_i IC(x_i) = (sum rho) IC_0 + sum_j (sum_i rho_i x_ij) IC_j
        (bool okIc, uint256 lx, uint256 ly) = mulAdd(0, 0, word(key, 14), word(key, 15), rhoSum);
        for (uint256 j = 0; j < inputCount && okIc; j++) {
            (okIc, lx, ly) = mulAdd(lx, ly, word(key, 16 + 2 * j), word(key, 17 + 2 * j), icScalars[j]);
        }
        if (!ok || !okIc) return false;
        (p[o + 6], p[o + 7]) = (lx, ly);
        (p[o + 8], p[o + 9], p[o + 10], p[o + 11]) = (word(key, 6), word(key, 7), word(key, 8), word(key, 9));
        (p[o + 12], p[o + 13]) = (cx, cy);
        (p[o + 14], p[o + 15], p[o + 16], p[o + 17]) =
            (word(key, 10), word(key, 11), word(key, 12), word(key, 13));
        return pairingDynamic(p);
    }

    function checkInputs(uint256 proof, uint256[] calldata input) internal view {
        if (input.length != inputCount) revert InputCount(inputCount, input.length);
        for (uint256 j = 0; j < input.length; j++) {
            if (input[j] >= R) revert InputNotInField(proof, j);
        }
    }

    /// Word `i` of the key.
    function word(bytes memory key, uint256 i) internal pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := mload(add(add(key, 32), mul(i, 32)))
        }
    }

    /// The y coordinate of -P for a y below Q (the point at infinity is its own negation).
    function negate(uint256 y) internal pure returns (uint256) {
        return y == 0 ? 0 : Q - y;
    }

    /// (x, y) + s (px, py), through the ecMul and ecAdd precompiles; false if either
    /// refuses its input (a point off the curve or a coordinate out of the field).
    function mulAdd(uint256 x, uint256 y, uint256 px, uint256 py, uint256 s)
        internal
        view
        returns (bool ok, uint256 rx, uint256 ry)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, px)
            mstore(add(m, 32), py)
            mstore(add(m, 64), s)
            ok := staticcall(gas(), 0x07, m, 96, add(m, 64), 64)
            mstore(m, x)
            mstore(add(m, 32), y)
            ok := and(ok, staticcall(gas(), 0x06, m, 128, m, 64))
            rx := mload(m)
            ry := mload(add(m, 32))
        }
    }

    /// Whether the product of the four pairings is one.
    function pairing(uint256[24] memory p) internal view returns (bool) {
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, p, 768, out, 32)
        }
        return ok && out[0] == 1;
    }

    /// Whether the product of the pairings of `p` (6 words a pair) is one.
    function pairingDynamic(uint256[] memory p) internal view returns (bool) {
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, add(p, 32), mul(mload(p), 32), out, 32)
        }
        return ok && out[0] == 1;
    }
}
