//! The node's domain records: tasks, jobs, task events and prover accounts. Plain data at the
//! bottom of the node: the store keeps them, the workload splits and checks tasks, the API
//! and the roles read them; how sled lays them out is the store's business alone.

mod account;
mod job;
mod task;

pub use account::Account;
pub use job::{JobRecord, JobState};
pub use task::{TaskEvent, TaskEventKind, TaskRecord, TaskSpec, TaskStatus};
