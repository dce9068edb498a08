// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {COPROCESSOR_GENESIS, Poseidon} from "./Poseidon.sol";

/// @title A data set of (key, value) rows kept on chain as the coprocessor commits to it.
/// @notice A contract holds a `Rows.Chain` and appends to it; every row is emitted as a
/// `RowAppended` event, from which anyone rebuilds the data set and submits queries over it
/// to the network, and `commitment` is exactly the commitment the network's proofs name:
/// s_0 = GENESIS, s_{i+1} = H(s_i, key + 2^64 value + 2^128 i), commitment = H(s_n, n + 2^200).
/// A query result proven against it needs no trusted party between the chain and the answer.
library Rows {
    /// Rows one data set may hold (the coprocessor's limit).
    uint64 internal constant MAX_ROWS = 1 << 32;

    /// A chain of rows: the state after the last row, how many there are, and the state
    /// after each prefix (so that a query over the rows up to any point can be checked
    /// against the chain's own value, however many rows came after).
    struct Chain {
        uint256 state;
        uint64 count;
        mapping(uint64 => uint256) stateAfter;
    }

    /// Row `index` of the chain kept by the emitting contract.
    event RowAppended(uint64 indexed index, uint64 key, uint64 value, uint256 state);

    /// The chain is full.
    error ChainFull();

    /// Appends one row; returns its index.
    function append(Chain storage chain, uint64 key, uint64 value) internal returns (uint64 index) {
        index = chain.count;
        if (index >= MAX_ROWS) revert ChainFull();
        uint256 state = index == 0 ? COPROCESSOR_GENESIS : chain.state;
        state = Poseidon.hash2(state, uint256(key) | (uint256(value) << 64) | (uint256(index) << 128));
        chain.state = state;
        chain.count = index + 1;
        chain.stateAfter[index + 1] = state;
        emit RowAppended(index, key, value, state);
    }

    /// The commitment to the rows appended so far.
    function commitment(Chain storage chain) internal view returns (uint256) {
        return seal(chain.count == 0 ? COPROCESSOR_GENESIS : chain.state, chain.count);
    }

    /// The commitment to the first `count` rows (0 if fewer were appended).
    function commitmentAt(Chain storage chain, uint64 count) internal view returns (uint256) {
        if (count > chain.count) return 0;
        return seal(count == 0 ? COPROCESSOR_GENESIS : chain.stateAfter[count], count);
    }

    /// The commitment to a chain that ends in `state` after `count` rows.
    function seal(uint256 state, uint64 count) internal pure returns (uint256) {
        return Poseidon.hash2(state, uint256(count) + (1 << 200));
    }
}

/// @title What `QueryResults` asks a data source: the commitment to its first rows.
interface IRowSource {
    /// The commitment to the first `count` rows (0 if there are fewer).
    function commitmentAt(uint64 count) external view returns (uint256);
}

/// @title A minimal data source: anyone may record rows; queries over them are proven by
/// the network and checked by `QueryResults` against `commitmentAt`.
contract RowLog is IRowSource {
    using Rows for Rows.Chain;

    Rows.Chain internal chain;

    /// Records one row.
    function record(uint64 key, uint64 value) external returns (uint64 index) {
        return chain.append(key, value);
    }

    /// Records several rows.
    function recordMany(uint64[] calldata keys, uint64[] calldata values) external {
        require(keys.length == values.length, "keys and values differ in length");
        for (uint256 i = 0; i < keys.length; i++) {
            chain.append(keys[i], values[i]);
        }
    }

    /// The commitment to every row recorded so far.
    function commitment() external view returns (uint256) {
        return chain.commitment();
    }

    /// The commitment to the first `count` rows recorded (0 if fewer were).
    function commitmentAt(uint64 count) external view override returns (uint256) {
        return chain.commitmentAt(count);
    }

    /// Rows recorded so far.
    function rowCount() external view returns (uint64) {
        return chain.count;
    }
}
