// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {Groth16Verifier} from "./Groth16Verifier.sol";
import {Poseidon} from "./Poseidon.sol";

/// @title zkML inference results of one served model, checked whole on chain.
/// @notice A model is proven in slices, each its own circuit (and verifier) with three public
/// inputs: the model commitment, the commitment to the slice's input activations and the one
/// to its output activations. One call checks whole inferences: every slice's proof, that the
/// first slice reads the client's input commitment, that each slice reads what the one
/// before wrote, and that the last writes exactly the output values given (their commitment
/// is computed here, with the network's Poseidon sponge). A checked inference is stored
/// (input commitment to output commitment) and its output values emitted; nothing is stored
/// when any check fails.
contract ZkmlResults {
    /// Domain tag of an activations commitment.
    uint256 internal constant ACTIVATIONS = 0x7a6b6d6c0001;
    /// Activations are 24-bit signed values, stored as `a + 2^23` in 24-bit slots.
    int256 internal constant ACT_LIMIT = 1 << 23;
    uint256 internal constant SLOT_BITS = 24;
    uint256 internal constant SLOTS_PER_ELEMENT = 10;

    /// The model's commitment: the first public input of every slice.
    uint256 public immutable model;
    /// The slices' verifiers, in order.
    Groth16Verifier[] internal slices;

    /// Output commitments by input commitment (zero: not proven).
    mapping(uint256 => uint256) internal outputs;

    /// An inference was proven.
    event InferenceProven(
        bytes32 indexed taskId, uint256 indexed input, uint256 output, int256[] values
    );

    /// No slices, or a verifier does not take 3 public inputs.
    error NotASliceVerifier(uint256 slice);
    /// The lists of a call differ in length.
    error BatchShape(uint256 inferences, uint256 got);
    /// An inference has not one proof per slice, or not one link between each two.
    error SliceCount(uint256 inference, uint256 proofs, uint256 links);
    /// An output value is outside the 24-bit range.
    error NotAnActivation(uint256 inference, uint256 value);
    /// A value given as a field element is not one.
    error NotInField(uint256 inference);
    /// A slice's proof does not verify for the chain claimed.
    error ProofInvalid(uint256 inference, uint256 slice);

    constructor(uint256 modelCommitment, Groth16Verifier[] memory verifiers) {
        if (verifiers.length == 0) revert NotASliceVerifier(0);
        for (uint256 i = 0; i < verifiers.length; ++i) {
            if (verifiers[i].inputCount() != 3) revert NotASliceVerifier(i);
            slices.push(verifiers[i]);
        }
        model = modelCommitment;
    }

    /// The number of slices.
    function sliceCount() external view returns (uint256) {
        return slices.length;
    }

    /// Checks inferences and stores them; reverts, storing nothing, unless for every one the
    /// slices' proofs chain from `inputs[n]` through `links[n]` (each slice's output
    /// commitment but the last's) to the commitment of `values[n]`.
    function submit(
        bytes32 taskId,
        uint256[] calldata inputs,
        int256[][] calldata values,
        uint256[][] calldata links,
        uint256[8][][] calldata proofs
    ) external {
        uint256 n = inputs.length;
        if (values.length != n) revert BatchShape(n, values.length);
        if (links.length != n) revert BatchShape(n, links.length);
        if (proofs.length != n) revert BatchShape(n, proofs.length);
        uint256 k = slices.length;
        for (uint256 i = 0; i < n; ++i) {
            if (proofs[i].length != k || links[i].length != k - 1) {
                revert SliceCount(i, proofs[i].length, links[i].length);
            }
            if (inputs[i] >= Poseidon.R) revert NotInField(i);
            uint256 output = commitment(i, values[i]);
            uint256[] memory statement = new uint256[](3);
            statement[0] = model;
            for (uint256 s = 0; s < k; ++s) {
                statement[1] = s == 0 ? inputs[i] : links[i][s - 1];
                statement[2] = s == k - 1 ? output : links[i][s];
                if (statement[2] >= Poseidon.R) revert NotInField(i);
                if (!slices[s].verifyProof(proofs[i][s], statement)) revert ProofInvalid(i, s);
            }
            outputs[inputs[i]] = output;
            emit InferenceProven(taskId, inputs[i], output, values[i]);
        }
    }

    /// The commitment to the proven output of the model on the input committed to by
    /// `input` (zero if none is proven).
    function outputOf(uint256 input) external view returns (uint256) {
        return outputs[input];
    }

    /// Whether `values` are the proven output of the model on the input committed to by
    /// `input`.
    function isOutput(uint256 input, int256[] calldata values) external view returns (bool) {
        uint256 proven = outputs[input];
        return proven != 0 && proven == commitment(0, values);
    }

    /// The network's commitment to activations: a domain tag, their number and the values
    /// packed ten 24-bit slots to an element (little-endian), through the Poseidon sponge.
    function activations(int256[] calldata values) external pure returns (uint256) {
        return commitment(0, values);
    }

    function commitment(uint256 inference, int256[] calldata values)
        internal
        pure
        returns (uint256)
    {
        uint256 packed = (values.length + SLOTS_PER_ELEMENT - 1) / SLOTS_PER_ELEMENT;
        uint256[] memory e = new uint256[](2 + packed);
        e[0] = ACTIVATIONS;
        e[1] = values.length;
        for (uint256 j = 0; j < values.length; ++j) {
            int256 v = values[j];
            if (v < -ACT_LIMIT || v >= ACT_LIMIT) revert NotAnActivation(inference, j);
            e[2 + j / SLOTS_PER_ELEMENT] |=
                uint256(v + ACT_LIMIT) << (SLOT_BITS * (j % SLOTS_PER_ELEMENT));
        }
        return Poseidon.sponge(e);
    }
}
