//! The node's domain records: tasks, jobs, task events, deliveries to a chain and prover
//! accounts. Plain data at the
//! bottom of the node: the store keeps them, the workload splits and checks tasks, the API
//! and the roles read them; how sled lays them out is the store's business alone.

mod account;
mod delivery;
mod job;
mod task;

pub use account::{Account, Penalty};
pub use delivery::{Delivery, DeliveryRecord, DeliveryState, delivery_note, hex0x};
pub use job::{JobRecord, JobState};
pub use task::{TaskEvent, TaskEventKind, TaskRecord, TaskSpec, TaskStatus};
