//! The host half of the bucket MSM's bookkeeping: window size, bucket offsets and the
//! levels of summing tasks. Plain integers, shared by the CUDA backend and its twin.
//!
//! Buckets are numbered `window << c | digit`. A *task* `(src, len, dst)` sums `len ≤
//! TASK_LEN` consecutive items of its level's input into one point. A group (a bucket,
//! or a window's segments) with more than `TASK_LEN` items is split into several tasks
//! whose partial sums are the next level's input, until every group is one point; so
//! no GPU thread ever sums more than `TASK_LEN` points, however lopsided the buckets
//! (e.g. every scalar equal to 1).

/// Bits of a canonical BN254 scalar (`r < 2^254`).
pub const SCALAR_BITS: u32 = 254;
/// Most items one task sums.
pub const TASK_LEN: u32 = 32;
/// Buckets per `bucket_reduce` thread.
pub const SEGMENT_LEN: u32 = 32;
/// Task destination flag: the result is a finished group (`MSM_DENSE_BIT` in the kernel).
pub const DENSE_BIT: u32 = 1 << 31;
/// Smallest window width.
pub const MIN_WINDOW_BITS: u32 = 2;
/// Largest window width (the dense bucket array has `windows << c` points).
pub const MAX_WINDOW_BITS: u32 = 16;
/// Most points one MSM may have: `points × windows` sorted entries must stay below
/// [`DENSE_BIT`].
pub const MAX_POINTS: usize = 1 << 26;

/// Sizes of one MSM run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Number of points.
    pub n: u32,
    /// Window width in bits.
    pub c: u32,
    /// Number of windows, `ceil(254 / c)`.
    pub windows: u32,
    /// Buckets per `bucket_reduce` thread.
    pub seg_len: u32,
    /// `bucket_reduce` threads per window: buckets `1 .. 2^c` in runs of `seg_len`.
    pub segments: u32,
}

impl Shape {
    /// The default shape for `n` points: `c ≈ log2(n) − 4`, clamped to
    /// [`MIN_WINDOW_BITS`]`..=`[`MAX_WINDOW_BITS`] (more, smaller buckets than a CPU
    /// would use: a GPU has the threads to fill them). `None` above [`MAX_POINTS`].
    pub fn for_points(n: usize) -> Option<Self> {
        let log2 = usize::BITS - n.saturating_sub(1).leading_zeros();
        let c = log2
            .saturating_sub(4)
            .clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        Self::with_window_bits(n, c)
    }

    /// The shape for `n` points and window width `c`.
    pub fn with_window_bits(n: usize, c: u32) -> Option<Self> {
        if n > MAX_POINTS || !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&c) {
            return None;
        }
        let non_zero_digits = (1u32 << c) - 1;
        let seg_len = SEGMENT_LEN.min(non_zero_digits);
        Some(Shape {
            n: u32::try_from(n).ok()?,
            c,
            windows: SCALAR_BITS.div_ceil(c),
            seg_len,
            segments: non_zero_digits.div_ceil(seg_len),
        })
    }

    /// Number of buckets, digit 0 (never used) included.
    pub fn buckets(&self) -> usize {
        (self.windows as usize) << self.c
    }

    /// Number of (window, point) digits.
    pub fn digits(&self) -> usize {
        self.windows as usize * self.n as usize
    }
}

/// `[0, c0, c0 + c1, ...]`: where each bucket's entries start in the sorted array.
pub fn exclusive_prefix(counts: &[u32]) -> Vec<u32> {
    counts
        .iter()
        .scan(0u32, |acc, &c| {
            let start = *acc;
            *acc = acc.saturating_add(c);
            Some(start)
        })
        .collect()
}

/// One level of summing tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// `(src, len, dst)` triples; `dst` with [`DENSE_BIT`] is a group index, else a
    /// slot of this level's scratch output.
    pub tasks: Vec<u32>,
    /// Number of partial sums this level leaves for the next.
    pub scratch_len: usize,
}

impl Level {
    /// Number of tasks.
    pub fn n_tasks(&self) -> usize {
        self.tasks.len() / 3
    }
}

/// Levels that reduce groups of `counts[g]` consecutive items (group `g` starting
/// where groups `0..g` end) to one point per non-empty group, written at index `g` of
/// the dense output. Empty groups get no task (the dense output starts as infinity).
pub fn plan_sums(counts: &[u32], task_len: u32) -> Vec<Level> {
    let task_len = task_len.max(1);
    // (group, first item, items)
    let mut groups: Vec<(u32, u32, u32)> = Vec::new();
    let mut start = 0u32;
    for (g, &count) in (0u32..).zip(counts) {
        if count > 0 {
            groups.push((g, start, count));
        }
        start = start.saturating_add(count);
    }
    let mut levels = Vec::new();
    while !groups.is_empty() {
        let mut tasks = Vec::new();
        let mut next = Vec::new();
        let mut out = 0u32;
        for &(g, start, count) in &groups {
            let n_tasks = count.div_ceil(task_len);
            if n_tasks == 1 {
                tasks.extend([start, count, DENSE_BIT | g]);
            } else {
                for k in 0..n_tasks {
                    let skip = k * task_len;
                    tasks.extend([start + skip, (count - skip).min(task_len), out + k]);
                }
                next.push((g, out, n_tasks));
                out += n_tasks;
            }
        }
        levels.push(Level {
            tasks,
            scratch_len: out as usize,
        });
        groups = next;
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let s = Shape::for_points(1 << 20).expect("shape");
        assert_eq!((s.c, s.windows, s.seg_len, s.segments), (16, 16, 32, 2048));
        let s = Shape::for_points(1 << 10).expect("shape");
        assert_eq!((s.c, s.windows), (6, 43));
        let s = Shape::for_points(3).expect("shape");
        assert_eq!((s.c, s.windows, s.seg_len, s.segments), (2, 127, 3, 1));
        assert!(Shape::for_points(MAX_POINTS + 1).is_none());
        assert!(Shape::with_window_bits(10, 17).is_none());
    }

    #[test]
    fn prefix() {
        assert_eq!(exclusive_prefix(&[2, 0, 3, 1]), vec![0, 2, 2, 5]);
    }

    #[test]
    fn small_groups_finish_in_one_level() {
        let levels = plan_sums(&[0, 2, 0, 1], 4);
        assert_eq!(levels.len(), 1);
        assert_eq!(
            levels[0].tasks,
            vec![0, 2, DENSE_BIT | 1, 2, 1, DENSE_BIT | 3]
        );
        assert_eq!(levels[0].scratch_len, 0);
    }

    #[test]
    fn large_groups_take_several_levels() {
        // group 0: 10 items with task_len 3 -> 4 partials -> 2 partials -> 1
        let levels = plan_sums(&[10, 1], 3);
        assert_eq!(levels.len(), 3);
        assert_eq!(
            levels[0].tasks,
            vec![0, 3, 0, 3, 3, 1, 6, 3, 2, 9, 1, 3, 10, 1, DENSE_BIT | 1]
        );
        assert_eq!(levels[0].scratch_len, 4);
        assert_eq!(levels[1].tasks, vec![0, 3, 0, 3, 1, 1]);
        assert_eq!(levels[2].tasks, vec![0, 2, DENSE_BIT]);
        assert_eq!(levels[2].scratch_len, 0);
    }

    #[test]
    fn no_items_no_levels() {
        assert!(plan_sums(&[0, 0], 32).is_empty());
    }
}
