//! Identifiers: Supernets, tasks, jobs, batches and circuits.
//!
//! Every identifier is a newtype with `Display` and `FromStr`, so it appears the same way in
//! logs, configs, topics and the CLI. Name-like ids (Supernets, circuits) are restricted to a
//! small alphabet because they become parts of libp2p protocol names and topics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bytes::{BytesError, byte_newtype};
use crate::keys::PublicKey;

/// The error for an identifier that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A name id (Supernet or circuit) broke its alphabet or length rule.
    #[error("invalid {what} {value:?}: {rule}")]
    Name {
        /// Which kind of id.
        what: &'static str,
        /// The rejected text.
        value: String,
        /// The rule it broke.
        rule: String,
    },
    /// A byte id was not the right hex.
    #[error("invalid hex id: {0}")]
    Bytes(#[from] BytesError),
    /// A job id did not have the form `<task>:<index>`.
    #[error("invalid job id {0:?}: expected <task-id hex>:<index>")]
    JobId(String),
}

fn check_name(what: &'static str, value: &str, max: usize, extra: &[char]) -> Result<(), IdError> {
    let fail = |rule: String| {
        Err(IdError::Name {
            what,
            value: value.to_string(),
            rule,
        })
    };
    if value.is_empty() || value.len() > max {
        return fail(format!(
            "must be 1 to {max} characters long, not {}",
            value.len()
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || extra.contains(&c))
    {
        let also: String = extra.iter().map(|c| format!(", '{c}'")).collect();
        return fail(format!(
            "only lowercase ASCII letters, digits and '-'{also} are allowed"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return fail("must not start or end with '-'".into());
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:expr, $extra:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Longest accepted name, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Checks and wraps a name.
            pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
                let name = name.into();
                check_name($what, &name, $max, $extra)?;
                Ok(Self(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

name_id!(
    /// The name of a Supernet, e.g. `coprocessor`. It namespaces topics, the DHT and
    /// request-response protocols: `/lagrange/<supernet>/jobs/1`. Up to 32 characters of
    /// `[a-z0-9-]`.
    SupernetId,
    "supernet id",
    32,
    &[]
);

name_id!(
    /// The name of a circuit, e.g. `coprocessor-sum-v1/small`. Up to 64 characters of
    /// `[a-z0-9./-]`. Circuit ids never become parts of topic or protocol names.
    CircuitId,
    "circuit id",
    64,
    &['.', '/']
);

byte_newtype!(
    /// A client task, assigned by the gateway when the task is stored. 16 bytes, shown as hex.
    TaskId,
    16
);

byte_newtype!(
    /// One auction batch. Derived from the gateway's key and its batch sequence number, so
    /// two gateways of one Supernet can never issue the same batch id. 16 bytes, shown as hex.
    BatchId,
    16
);

impl BatchId {
    /// The batch id for the `seq`-th batch of `gateway` in `supernet`.
    pub fn derive(supernet: &SupernetId, gateway: &PublicKey, seq: u64) -> Self {
        let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 batch id");
        h.update(&(supernet.as_str().len() as u64).to_le_bytes());
        h.update(supernet.as_str().as_bytes());
        h.update(gateway.as_bytes());
        h.update(&seq.to_le_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        BatchId(out)
    }
}

/// One job of a task: the task id and the job's index within it. Shown as `<task>:<index>`.
///
/// Ordering is by task, then index, which is the order jobs are created and aggregated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId {
    /// The task this job belongs to.
    pub task: TaskId,
    /// The job's position in the task, from 0.
    pub index: u32,
}

impl JobId {
    /// The `index`-th job of `task`.
    pub fn new(task: TaskId, index: u32) -> Self {
        Self { task, index }
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.task, self.index)
    }
}

impl FromStr for JobId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (task, index) = s
            .split_once(':')
            .ok_or_else(|| IdError::JobId(s.to_string()))?;
        let index = index
            .parse::<u32>()
            .map_err(|_| IdError::JobId(s.to_string()))?;
        Ok(JobId {
            task: task.parse()?,
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let s: SupernetId = "coprocessor".parse().unwrap();
        assert_eq!(s.to_string(), "coprocessor");
        let c: CircuitId = "coprocessor-sum-v1/small".parse().unwrap();
        assert_eq!(c.as_str(), "coprocessor-sum-v1/small");
        let t = TaskId([7; 16]);
        assert_eq!(t.to_string().parse::<TaskId>().unwrap(), t);
        let j = JobId::new(t, 42);
        assert_eq!(j.to_string().parse::<JobId>().unwrap(), j);
        let b = BatchId([1; 16]);
        assert_eq!(b.to_string().parse::<BatchId>().unwrap(), b);
    }

    #[test]
    fn bad_names_are_rejected_with_reasons() {
        for bad in [
            "",
            "Upper",
            "has space",
            "-lead",
            "trail-",
            "a/b",
            &"x".repeat(33),
        ] {
            assert!(SupernetId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(CircuitId::new("a.b-c").is_ok());
        assert!(SupernetId::new("a.b").is_err());
        assert!("00ff".parse::<TaskId>().is_err());
        assert!("zz".repeat(16).parse::<TaskId>().is_err());
        assert!("nocolon".parse::<JobId>().is_err());
        assert!(format!("{}:x", TaskId([0; 16])).parse::<JobId>().is_err());
        // The reasons name the limits.
        let e = SupernetId::new("").unwrap_err().to_string();
        assert!(e.contains("must be 1 to 32 characters long, not 0"), "{e}");
        let e = CircuitId::new("A").unwrap_err().to_string();
        assert!(
            e.contains("'-', '/', '.' are allowed") || e.contains("'-', '.', '/' are allowed"),
            "{e}"
        );
    }

    #[test]
    fn batch_ids_differ_per_gateway_supernet_and_seq() {
        let a = SupernetId::new("a").unwrap();
        let b = SupernetId::new("b").unwrap();
        let g1 = PublicKey([1; 32]);
        let g2 = PublicKey([2; 32]);
        let base = BatchId::derive(&a, &g1, 0);
        assert_eq!(base, BatchId::derive(&a, &g1, 0));
        assert_ne!(base, BatchId::derive(&b, &g1, 0));
        assert_ne!(base, BatchId::derive(&a, &g2, 0));
        assert_ne!(base, BatchId::derive(&a, &g1, 1));
    }
}
