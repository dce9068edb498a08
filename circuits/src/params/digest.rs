//! Content digests (blake3) of parameter files, as pinned in Supernet configs and
//! checked after content-addressed transfers.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// The blake3 digest of a parameter file (hex in text form).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamDigest(pub [u8; 32]);

impl ParamDigest {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ParamDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ParamDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParamDigest({})", self.to_hex())
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad digest {0:?}: expected 64 hex digits")]
pub struct BadDigest(pub String);

impl FromStr for ParamDigest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| BadDigest(s.to_owned()))?;
        Ok(ParamDigest(out))
    }
}

impl Serialize for ParamDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ParamDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// Digest of bytes in memory.
pub fn digest_bytes(bytes: &[u8]) -> ParamDigest {
    ParamDigest(*blake3::hash(bytes).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d = digest_bytes(b"abc");
        assert_eq!(d.to_hex().parse::<ParamDigest>(), Ok(d));
        let json = serde_json::to_string(&d).expect("json");
        assert_eq!(json, format!("\"{d}\""));
        assert!("xyz".parse::<ParamDigest>().is_err());
        assert!(d.to_hex()[..62].parse::<ParamDigest>().is_err());
    }
}
