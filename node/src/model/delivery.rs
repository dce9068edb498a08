//! A client's request that the gateway deliver a task's result to a contract on an EVM chain
//! itself once the task is done, and where that delivery stands. Addresses and hashes are
//! plain bytes here: what they mean on a chain is the `chain` module's business.

use serde::{Deserialize, Serialize};

/// Where a task's result goes when the task is done: a `QueryResults` contract, and for a
/// query over rows kept on chain, the contract holding them (the result is then checked
/// against the commitment that source holds, `submitFor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The `QueryResults` contract.
    pub contract: [u8; 20],
    /// The data source the rows came from, if they came from a chain.
    pub source: Option<[u8; 20]>,
}

impl Delivery {
    /// Parses `0x`-prefixed (or bare) hex addresses, naming the field that is wrong.
    pub fn parse(contract: &str, source: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            contract: address(contract).map_err(|e| format!("contract {contract:?}: {e}"))?,
            source: source
                .map(|s| address(s).map_err(|e| format!("source {s:?}: {e}")))
                .transpose()?,
        })
    }
}

fn address(text: &str) -> Result<[u8; 20], String> {
    let hex_part = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(hex_part).map_err(|e| format!("not hex ({e})"))?;
    <[u8; 20]>::try_from(bytes.as_slice())
        .map_err(|_| format!("{} bytes, an address has 20", bytes.len()))
}

/// `0x`-prefixed lowercase hex, as block explorers show addresses and hashes.
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// How a delivered result is told: the contract, and the transaction and block that
/// delivered it, or that the contract held the answer already.
pub fn delivery_note(contract: &[u8; 20], tx: Option<&[u8; 32]>, block: Option<u64>) -> String {
    match tx {
        Some(tx) => format!(
            "delivered to {} in transaction {}{}",
            hex0x(contract),
            hex0x(tx),
            block.map(|b| format!(" (block {b})")).unwrap_or_default()
        ),
        None => format!("{} already held the answer", hex0x(contract)),
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for the task to be done, or for the chain to take it.
    Pending {
        /// Tries so far that failed for want of a reachable chain.
        attempts: u32,
    },
    /// The contract holds the answer.
    Delivered {
        /// The transaction that delivered it (`None`: the contract held it already).
        tx: Option<[u8; 32]>,
        /// Its block.
        block: Option<u64>,
    },
    /// The chain refused it, or stayed out of reach: the task's result stands, undelivered.
    Failed {
        /// Why.
        reason: String,
    },
    /// The task failed: there is nothing to deliver.
    Cancelled,
}

/// A task's delivery request and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Where to.
    pub to: Delivery,
    /// Where it stands.
    pub state: DeliveryState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_or_without_prefix_and_name_what_is_wrong() {
        let d = Delivery::parse(
            "0x00000000000000000000000000000000000000aa",
            Some("bb".repeat(20).as_str()),
        )
        .unwrap();
        assert_eq!(d.contract[19], 0xaa);
        assert_eq!(d.source, Some([0xbb; 20]));
        let e = Delivery::parse("0x1234", None).unwrap_err();
        assert!(e.contains("2 bytes, an address has 20"), "{e}");
        let e = Delivery::parse(&"aa".repeat(20), Some("0xzz")).unwrap_err();
        assert!(e.starts_with("source \"0xzz\": not hex"), "{e}");
    }
}
