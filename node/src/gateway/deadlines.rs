//! When each live task and each assigned job falls due, so that a timer tick looks only at
//! what is due instead of reading every live task and job from the store.
//!
//! Entries are hints, checked against the store when they fall due: a job proven, failed or
//! given a later deadline since, or a task finished, costs one lookup and is dropped or
//! filed again. The gateway fills the index on recovery and adds to it whenever it stores a
//! task or assigns a job, so it always holds every deadline the store holds.

use std::collections::BTreeSet;

use lagrange_protocol::{JobId, TaskId, UnixMillis};

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// A job's proving deadline.
    Job(JobId),
    /// A client's deadline for a task.
    Task(TaskId),
}

/// Deadlines in time order.
#[derive(Debug, Default)]
pub struct Deadlines {
    due: BTreeSet<(UnixMillis, Due)>,
}

impl Deadlines {
    /// Files `what` as due once `at` has passed.
    pub fn add(&mut self, at: UnixMillis, what: Due) {
        self.due.insert((at, what));
    }

    /// Takes every entry whose time is before `now`, earliest first.
    pub fn take_due(&mut self, now: UnixMillis) -> Vec<Due> {
        let mut out = Vec::new();
        while let Some(&(at, what)) = self.due.first()
            && at < now
        {
            self.due.pop_first();
            out.push(what);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_what_is_due_in_time_order() {
        let task = TaskId([7; 16]);
        let mut d = Deadlines::default();
        d.add(30, Due::Job(JobId::new(task, 1)));
        d.add(10, Due::Task(task));
        d.add(20, Due::Job(JobId::new(task, 0)));
        assert!(d.take_due(10).is_empty());
        assert_eq!(
            d.take_due(21),
            vec![Due::Task(task), Due::Job(JobId::new(task, 0))]
        );
        assert_eq!(d.take_due(31), vec![Due::Job(JobId::new(task, 1))]);
        assert!(d.take_due(u64::MAX).is_empty());
    }
}
