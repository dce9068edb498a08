//! Chunk sizes: the three job categories a query is split into, and custom shapes.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Largest row capacity accepted for a custom chunk shape.
pub const MAX_CHUNK_ROWS: usize = 4096;

/// Job size class. Every chunk job of one category has the same row capacity and
/// therefore the same circuit and keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// 32 rows per chunk (about 2^14 constraints).
    Small,
    /// 128 rows per chunk (about 2^16 constraints).
    Medium,
    /// 512 rows per chunk (about 2^18 constraints).
    Large,
}

impl Category {
    /// All categories, smallest first.
    pub const ALL: [Category; 3] = [Category::Small, Category::Medium, Category::Large];

    /// Row capacity of one chunk of this category.
    pub const fn rows(self) -> usize {
        match self {
            Category::Small => 32,
            Category::Medium => 128,
            Category::Large => 512,
        }
    }

    /// Lower-case name, as used in circuit ids.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Small => "small",
            Category::Medium => "medium",
            Category::Large => "large",
        }
    }

    /// The chunk shape of this category.
    pub const fn shape(self) -> ChunkShape {
        ChunkShape { rows: self.rows() }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error parsing a [`Category`] name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown category {0:?} (expected small, medium or large)")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// Row capacity of a chunk circuit. The categories are the shapes used in production;
/// tests and experiments may use other capacities (`1..=MAX_CHUNK_ROWS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkShape {
    /// Rows per chunk.
    pub rows: usize,
}

impl ChunkShape {
    /// The category with this capacity, if any.
    pub fn category(self) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.rows() == self.rows)
    }

    /// Whether the capacity is supported.
    pub fn is_valid(self) -> bool {
        (1..=MAX_CHUNK_ROWS).contains(&self.rows)
    }
}
