// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {Groth16Verifier} from "./Groth16Verifier.sol";
import {COPROCESSOR_GENESIS} from "./Poseidon.sol";
import {IRowSource, Rows} from "./Rows.sol";

/// @title Coprocessor query results, checked whole on chain and kept for other contracts.
/// @notice One call checks a whole task: every chunk proof in one batched pairing check,
/// the chain of chunk states from genesis to the data set's commitment, the query in every
/// chunk, and that the partial answers add up to the answer claimed. A checked answer is
/// stored under (commitment, lo, hi) and emitted; nothing is stored when any check fails.
/// @dev A chunk's public inputs are
/// [state_before, state_after, lo, hi, sum, count, row_offset, rows].
contract QueryResults {
    /// The verifier of the chunk circuit (one chunk shape).
    Groth16Verifier public immutable chunkVerifier;
    /// Rows one chunk holds at most.
    uint64 public immutable chunkCapacity;

    struct Answer {
        uint128 sum;
        uint64 count;
        uint64 rows;
        bool proven;
    }

    mapping(bytes32 => Answer) internal answers;

    /// A task's answer was proven.
    event QueryProven(
        bytes32 indexed taskId,
        uint256 indexed commitment,
        uint64 lo,
        uint64 hi,
        uint128 sum,
        uint64 count,
        uint64 rows
    );

    /// The chunk verifier does not take 8 public inputs.
    error NotAChunkVerifier();
    /// No chunks, or proofs and input lists differ in number.
    error BatchShape(uint256 proofs, uint256 inputLists);
    /// A chunk has not 8 public inputs.
    error InputCount(uint256 chunk, uint256 got);
    /// An integer input does not fit its type.
    error NotAnInteger(uint256 chunk, uint256 input);
    /// The first chunk does not start at genesis and row 0.
    error NotFromGenesis();
    /// A chunk does not start where the previous one ended.
    error ChainBroken(uint256 chunk);
    /// A chunk answers another query.
    error WrongQuery(uint256 chunk);
    /// A chunk claims more rows than the circuit holds.
    error TooManyRows(uint256 chunk, uint256 rows);
    /// The chain does not end in the commitment.
    error NotTheCommitment(uint256 computed, uint256 claimed);
    /// The partial answers do not add up to the answer claimed.
    error AnswerMismatch(uint128 sum, uint64 count);
    /// A proof does not verify.
    error ProofsInvalid();

    constructor(Groth16Verifier verifier, uint64 capacity) {
        if (verifier.inputCount() != 8) revert NotAChunkVerifier();
        chunkVerifier = verifier;
        chunkCapacity = capacity;
    }

    /// Checks a task's chunk proofs and stores its answer; reverts, storing nothing, unless
    /// they prove exactly `sum` and `count` for the query [lo, hi] over the data set
    /// committed to by `commitment`.
    function submit(
        bytes32 taskId,
        uint256 commitment,
        uint64 lo,
        uint64 hi,
        uint128 sum,
        uint64 count,
        uint256[8][] calldata proofs,
        uint256[][] calldata inputs
    ) external {
        (uint64 rows, uint256 proven) = checkChain(lo, hi, sum, count, inputs);
        if (proven != commitment) revert NotTheCommitment(proven, commitment);
        record(taskId, commitment, lo, hi, sum, count, rows, proofs, inputs);
    }

    /// As `submit`, for a data set kept on chain by `source`: the proofs must cover the
    /// source's first rows, exactly as the source committed to them. Nobody vouches for
    /// the data: the chain holds it, and the proofs are checked against the chain's value.
    function submitFor(
        IRowSource source,
        bytes32 taskId,
        uint64 lo,
        uint64 hi,
        uint128 sum,
        uint64 count,
        uint256[8][] calldata proofs,
        uint256[][] calldata inputs
    ) external returns (uint256 commitment) {
        (uint64 rows, uint256 proven) = checkChain(lo, hi, sum, count, inputs);
        commitment = source.commitmentAt(rows);
        if (proven != commitment) revert NotTheCommitment(proven, commitment);
        record(taskId, commitment, lo, hi, sum, count, rows, proofs, inputs);
    }

    function record(
        bytes32 taskId,
        uint256 commitment,
        uint64 lo,
        uint64 hi,
        uint128 sum,
        uint64 count,
        uint64 rows,
        uint256[8][] calldata proofs,
        uint256[][] calldata inputs
    ) internal {
        if (proofs.length != inputs.length) revert BatchShape(proofs.length, inputs.length);
        if (!chunkVerifier.verifyBatch(proofs, inputs)) revert ProofsInvalid();
        answers[key(commitment, lo, hi)] = Answer(sum, count, rows, true);
        emit QueryProven(taskId, commitment, lo, hi, sum, count, rows);
    }

    /// The proven answer to [lo, hi] over the data set committed to by `commitment`.
    function answerOf(uint256 commitment, uint64 lo, uint64 hi)
        external
        view
        returns (bool proven, uint128 sum, uint64 count, uint64 rows)
    {
        Answer memory a = answers[key(commitment, lo, hi)];
        return (a.proven, a.sum, a.count, a.rows);
    }

    /// The chain of chunk statements from genesis, for the query and the answer claimed;
    /// returns the rows covered and the commitment the chain ends in.
    function checkChain(
        uint64 lo,
        uint64 hi,
        uint128 sum,
        uint64 count,
        uint256[][] calldata inputs
    ) public view returns (uint64 rows, uint256 commitment) {
        if (inputs.length == 0) revert BatchShape(0, 0);
        uint256 state = COPROCESSOR_GENESIS;
        uint256 total;
        uint256 matched;
        for (uint256 i = 0; i < inputs.length; i++) {
            uint256[] calldata x = inputs[i];
            if (x.length != 8) revert InputCount(i, x.length);
            for (uint256 j = 2; j < 8; j++) {
                if (x[j] >> (j == 4 ? 128 : 64) != 0) revert NotAnInteger(i, j);
            }
            if (x[0] != state || x[6] != rows) {
                if (i == 0) revert NotFromGenesis();
                revert ChainBroken(i);
            }
            if (x[2] != lo || x[3] != hi) revert WrongQuery(i);
            if (x[7] > chunkCapacity) revert TooManyRows(i, x[7]);
            total += x[4];
            matched += x[5];
            rows += uint64(x[7]);
            state = x[1];
        }
        if (rows > Rows.MAX_ROWS) revert TooManyRows(inputs.length, rows);
        commitment = Rows.seal(state, rows);
        if (total != sum || matched != count) revert AnswerMismatch(uint128(total), uint64(matched));
    }

    function key(uint256 commitment, uint64 lo, uint64 hi) internal pure returns (bytes32) {
        return keccak256(abi.encode(commitment, lo, hi));
    }
}
