//! Job categories: the size classes that provers announce and jobs are sorted into.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The size class of a job. Provers announce which classes they serve; the gateway sizes
/// every job into exactly one class, with its own proving deadline and reserve price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobCategory {
    /// Quick jobs, well under a second of proving on a small machine.
    Small,
    /// Jobs of about a second to a few seconds.
    Medium,
    /// Jobs of several seconds to tens of seconds.
    Large,
}

impl JobCategory {
    /// Every category, smallest first.
    pub const ALL: [JobCategory; 3] = [JobCategory::Small, JobCategory::Medium, JobCategory::Large];

    /// The lowercase name used in configs, topics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobCategory::Small => "small",
            JobCategory::Medium => "medium",
            JobCategory::Large => "large",
        }
    }
}

impl fmt::Display for JobCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a category name that is not `small`, `medium` or `large`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job category {0:?} (expected small, medium or large)")]
pub struct UnknownCategory(pub String);

impl FromStr for JobCategory {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "small" => Ok(JobCategory::Small),
            "medium" => Ok(JobCategory::Medium),
            "large" => Ok(JobCategory::Large),
            other => Err(UnknownCategory(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for c in JobCategory::ALL {
            assert_eq!(c.to_string().parse::<JobCategory>(), Ok(c));
        }
        assert!("huge".parse::<JobCategory>().is_err());
    }
}
