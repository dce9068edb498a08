//! The bucket MSM as a sequence of kernel launches, written once against [`Engine`]:
//! the CUDA backend runs it on the GPU and the twin runs the same sequence on the CPU,
//! so everything the host does (buffer sizes, offsets, task levels, the final window
//! combination) is exercised by the twin's tests.
//!
//! 1. `decompose`: c-bit digits of every scalar, counts per bucket;
//! 2. (host) bucket offsets; `scatter`: point indices sorted by bucket;
//! 3. levels of `accumulate_affine` / `accumulate_xyzz` tasks: one point per bucket in
//!    a dense `windows × 2^c` array (empty buckets stay at infinity);
//! 4. `bucket_reduce`: `Σ_d d·B_d` per window segment; more `accumulate_xyzz` levels
//!    sum the segments of each window;
//! 5. (host) `Σ_w 2^(c·w)·W_w` in arkworks.

use ark_ec::short_weierstrass::Projective;
use ark_ff::Zero;

use super::{
    layout::{Curve, DeviceCurve, combine_windows, scalars_to_limbs},
    plan::{Level, Shape, TASK_LEN, exclusive_prefix, plan_sums},
};
use crate::prover::msm::{MsmError, ScalarRepr};

/// A batch of tasks on the device.
#[derive(Clone, Copy, Debug)]
pub struct Tasks<'a, B> {
    /// `(src, len, dst)` triples.
    pub buf: &'a B,
    /// Number of tasks.
    pub count: u32,
}

/// Where tasks write: partial sums for the next level, or finished groups.
#[derive(Debug)]
pub struct Outputs<'a, B> {
    /// This level's partial sums.
    pub scratch: &'a mut B,
    /// One point per group.
    pub dense: &'a mut B,
}

/// Device memory and the MSM kernels. Every kernel method launches one kernel with
/// one thread per item, as in `cuda/kernels/msm.cu`.
pub trait Engine: Send + Sync {
    /// A device buffer of `u32`.
    type Buf32: Send + Sync;
    /// A device buffer of `u64`.
    type Buf64: Send + Sync;

    /// Copies `data` to the device.
    fn upload_u32(&self, data: &[u32]) -> Result<Self::Buf32, MsmError>;
    /// Copies `data` to the device.
    fn upload_u64(&self, data: &[u64]) -> Result<Self::Buf64, MsmError>;
    /// `len` zeros (at least one element is allocated).
    fn zeros_u32(&self, len: usize) -> Result<Self::Buf32, MsmError>;
    /// `len` zeros (at least one element is allocated).
    fn zeros_u64(&self, len: usize) -> Result<Self::Buf64, MsmError>;
    /// Copies a buffer back (waits for the work before it).
    fn download_u32(&self, buf: &Self::Buf32) -> Result<Vec<u32>, MsmError>;
    /// Copies a buffer back (waits for the work before it).
    fn download_u64(&self, buf: &Self::Buf64) -> Result<Vec<u64>, MsmError>;

    /// `msm_decompose`: one thread per scalar.
    fn decompose(
        &self,
        scalars: &Self::Buf64,
        shape: &Shape,
        digits: &mut Self::Buf32,
        counts: &mut Self::Buf32,
    ) -> Result<(), MsmError>;

    /// `msm_scatter`: one thread per (window, scalar).
    fn scatter(
        &self,
        digits: &Self::Buf32,
        shape: &Shape,
        cursors: &mut Self::Buf32,
        sorted: &mut Self::Buf32,
    ) -> Result<(), MsmError>;

    /// `g1/g2_accumulate_affine`: one thread per task; bases start at point `first`.
    fn accumulate_affine(
        &self,
        curve: Curve,
        bases: &Self::Buf64,
        first: usize,
        sorted: &Self::Buf32,
        tasks: Tasks<'_, Self::Buf32>,
        out: Outputs<'_, Self::Buf64>,
    ) -> Result<(), MsmError>;

    /// `g1/g2_accumulate_xyzz`: one thread per task.
    fn accumulate_xyzz(
        &self,
        curve: Curve,
        input: &Self::Buf64,
        tasks: Tasks<'_, Self::Buf32>,
        out: Outputs<'_, Self::Buf64>,
    ) -> Result<(), MsmError>;

    /// `g1/g2_bucket_reduce`: one thread per (window, segment).
    fn bucket_reduce(
        &self,
        curve: Curve,
        dense: &Self::Buf64,
        shape: &Shape,
        out: &mut Self::Buf64,
    ) -> Result<(), MsmError>;
}

/// The first level's input.
enum First<'a, E: Engine> {
    /// Affine bases, gathered through the sorted point indices.
    Affine {
        bases: &'a E::Buf64,
        first: usize,
        sorted: &'a E::Buf32,
    },
    /// XYZZ points, read in place.
    Xyzz(&'a E::Buf64),
}

/// `Σ scalars[i] · bases[first + i]` with the given shape (`shape.n == scalars.len()`).
pub fn run<E: Engine, C: DeviceCurve>(
    engine: &E,
    bases: &E::Buf64,
    first: usize,
    scalars: &[ScalarRepr],
    shape: Shape,
) -> Result<Projective<C>, MsmError> {
    if shape.n == 0 {
        return Ok(Projective::zero());
    }
    let xyzz = C::xyzz_limbs();

    // 1. digits and bucket counts
    let scalar_buf = engine.upload_u64(&scalars_to_limbs(scalars))?;
    let mut digits = engine.zeros_u32(shape.digits())?;
    let mut counts = engine.zeros_u32(shape.buckets())?;
    engine.decompose(&scalar_buf, &shape, &mut digits, &mut counts)?;
    drop(scalar_buf);
    let counts = engine.download_u32(&counts)?;

    // 2. counting sort by bucket
    let offsets = exclusive_prefix(&counts);
    let entries: usize = counts.iter().map(|&c| c as usize).sum();
    let mut cursors = engine.upload_u32(&offsets)?;
    let mut sorted = engine.zeros_u32(entries)?;
    engine.scatter(&digits, &shape, &mut cursors, &mut sorted)?;
    drop((digits, cursors));

    // 3. one point per bucket
    let mut buckets = engine.zeros_u64(shape.buckets() * xyzz)?;
    let first_input = First::Affine {
        bases,
        first,
        sorted: &sorted,
    };
    sum_levels::<E, C>(
        engine,
        first_input,
        &plan_sums(&counts, TASK_LEN),
        &mut buckets,
    )?;
    drop(sorted);

    // 4. weighted bucket sums per segment, then per window
    let windows = shape.windows as usize;
    let mut segments = engine.zeros_u64(windows * shape.segments as usize * xyzz)?;
    engine.bucket_reduce(C::CURVE, &buckets, &shape, &mut segments)?;
    drop(buckets);
    let mut window_sums = engine.zeros_u64(windows * xyzz)?;
    let per_window = vec![shape.segments; windows];
    let levels = plan_sums(&per_window, TASK_LEN);
    sum_levels::<E, C>(engine, First::Xyzz(&segments), &levels, &mut window_sums)?;

    // 5. windows, on the host
    let window_sums = engine.download_u64(&window_sums)?;
    Ok(combine_windows::<C>(&window_sums, shape.c))
}

/// Runs `levels`; finished groups land in `dense`.
fn sum_levels<E: Engine, C: DeviceCurve>(
    engine: &E,
    first: First<'_, E>,
    levels: &[Level],
    dense: &mut E::Buf64,
) -> Result<(), MsmError> {
    let mut previous: Option<E::Buf64> = None;
    for level in levels {
        let count = u32::try_from(level.n_tasks()).map_err(|_| too_many_tasks())?;
        if count == 0 {
            continue;
        }
        let task_buf = engine.upload_u32(&level.tasks)?;
        let tasks = Tasks {
            buf: &task_buf,
            count,
        };
        let mut scratch = engine.zeros_u64(level.scratch_len * C::xyzz_limbs())?;
        let out = Outputs {
            scratch: &mut scratch,
            dense: &mut *dense,
        };
        match (previous.as_ref(), &first) {
            (Some(input), _) => engine.accumulate_xyzz(C::CURVE, input, tasks, out)?,
            (None, First::Xyzz(input)) => engine.accumulate_xyzz(C::CURVE, input, tasks, out)?,
            (
                None,
                First::Affine {
                    bases,
                    first,
                    sorted,
                },
            ) => engine.accumulate_affine(C::CURVE, bases, *first, sorted, tasks, out)?,
        }
        previous = Some(scratch);
    }
    Ok(())
}

fn too_many_tasks() -> MsmError {
    MsmError::Backend {
        backend: "bucket",
        message: "more than 2^32 tasks in one level".into(),
    }
}
