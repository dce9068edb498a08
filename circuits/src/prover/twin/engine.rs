//! [`TwinEngine`]: the [`Engine`] that runs the kernels' Rust twins on host vectors,
//! one loop iteration per GPU thread, on the same flat limb buffers the GPU gets.

use super::{
    curve::{Affine, Xyzz},
    field::{Fq, Fq2, TwinField},
    kernels,
};
use crate::prover::{
    bucket::{
        layout::Curve,
        pipeline::{Engine, Outputs, Tasks},
        plan::Shape,
    },
    msm::MsmError,
};

/// The CPU stand-in for the GPU (single-threaded; for tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct TwinEngine;

fn load_all<F: TwinField>(buf: &[u64]) -> Vec<Xyzz<F>> {
    (0..buf.len() / Xyzz::<F>::LIMBS)
        .map(|i| Xyzz::load(buf, i))
        .collect()
}

fn store_all<F: TwinField>(points: &[Xyzz<F>], buf: &mut [u64]) {
    for (i, p) in points.iter().enumerate() {
        p.store(buf, i);
    }
}

fn accumulate_affine_in<F: TwinField>(
    bases: &[u64],
    first: usize,
    sorted: &[u32],
    tasks: Tasks<'_, Vec<u32>>,
    out: Outputs<'_, Vec<u64>>,
) {
    let bases: Vec<Affine<F>> = (first..bases.len() / Affine::<F>::LIMBS)
        .map(|i| Affine::load(bases, i))
        .collect();
    let mut scratch = load_all::<F>(out.scratch);
    let mut dense = load_all::<F>(out.dense);
    for t in 0..tasks.count {
        kernels::accumulate_affine(t, &bases, sorted, tasks.buf, &mut scratch, &mut dense);
    }
    store_all(&scratch, out.scratch);
    store_all(&dense, out.dense);
}

fn accumulate_xyzz_in<F: TwinField>(
    input: &[u64],
    tasks: Tasks<'_, Vec<u32>>,
    out: Outputs<'_, Vec<u64>>,
) {
    let input = load_all::<F>(input);
    let mut scratch = load_all::<F>(out.scratch);
    let mut dense = load_all::<F>(out.dense);
    for t in 0..tasks.count {
        kernels::accumulate_xyzz(t, &input, tasks.buf, &mut scratch, &mut dense);
    }
    store_all(&scratch, out.scratch);
    store_all(&dense, out.dense);
}

fn bucket_reduce_in<F: TwinField>(dense: &[u64], shape: &Shape, out: &mut [u64]) {
    let dense = load_all::<F>(dense);
    let mut segments = load_all::<F>(out);
    for t in 0..shape.segments * shape.windows {
        kernels::bucket_reduce(
            t,
            &dense,
            shape.c,
            shape.seg_len,
            shape.segments,
            &mut segments,
        );
    }
    store_all(&segments, out);
}

/// The field of `curve`'s kernels, for the twin's generic functions.
macro_rules! per_curve {
    ($curve:expr, $f:ident ( $($arg:expr),* )) => {
        match $curve {
            Curve::G1 => $f::<Fq>($($arg),*),
            Curve::G2 => $f::<Fq2>($($arg),*),
        }
    };
}

impl Engine for TwinEngine {
    type Buf32 = Vec<u32>;
    type Buf64 = Vec<u64>;

    fn upload_u32(&self, data: &[u32]) -> Result<Vec<u32>, MsmError> {
        Ok(data.to_vec())
    }

    fn upload_u64(&self, data: &[u64]) -> Result<Vec<u64>, MsmError> {
        Ok(data.to_vec())
    }

    fn zeros_u32(&self, len: usize) -> Result<Vec<u32>, MsmError> {
        Ok(vec![0; len.max(1)])
    }

    fn zeros_u64(&self, len: usize) -> Result<Vec<u64>, MsmError> {
        Ok(vec![0; len.max(1)])
    }

    fn download_u32(&self, buf: &Vec<u32>) -> Result<Vec<u32>, MsmError> {
        Ok(buf.clone())
    }

    fn download_u64(&self, buf: &Vec<u64>) -> Result<Vec<u64>, MsmError> {
        Ok(buf.clone())
    }

    fn decompose(
        &self,
        scalars: &Vec<u64>,
        shape: &Shape,
        digits: &mut Vec<u32>,
        counts: &mut Vec<u32>,
    ) -> Result<(), MsmError> {
        for i in 0..shape.n {
            kernels::msm_decompose_body(
                i,
                scalars,
                shape.n,
                shape.c,
                shape.windows,
                digits,
                counts,
            );
        }
        Ok(())
    }

    fn scatter(
        &self,
        digits: &Vec<u32>,
        shape: &Shape,
        cursors: &mut Vec<u32>,
        sorted: &mut Vec<u32>,
    ) -> Result<(), MsmError> {
        for t in 0..u64::from(shape.n) * u64::from(shape.windows) {
            kernels::msm_scatter_body(t, digits, shape.n, shape.c, cursors, sorted);
        }
        Ok(())
    }

    fn accumulate_affine(
        &self,
        curve: Curve,
        bases: &Vec<u64>,
        first: usize,
        sorted: &Vec<u32>,
        tasks: Tasks<'_, Vec<u32>>,
        out: Outputs<'_, Vec<u64>>,
    ) -> Result<(), MsmError> {
        per_curve!(
            curve,
            accumulate_affine_in(bases, first, sorted, tasks, out)
        );
        Ok(())
    }

    fn accumulate_xyzz(
        &self,
        curve: Curve,
        input: &Vec<u64>,
        tasks: Tasks<'_, Vec<u32>>,
        out: Outputs<'_, Vec<u64>>,
    ) -> Result<(), MsmError> {
        per_curve!(curve, accumulate_xyzz_in(input, tasks, out));
        Ok(())
    }

    fn bucket_reduce(
        &self,
        curve: Curve,
        dense: &Vec<u64>,
        shape: &Shape,
        out: &mut Vec<u64>,
    ) -> Result<(), MsmError> {
        per_curve!(curve, bucket_reduce_in(dense, shape, out));
        Ok(())
    }
}
