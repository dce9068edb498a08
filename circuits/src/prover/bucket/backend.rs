//! [`BucketMsm`]: an [`MsmBackend`] on any [`Engine`]. It keeps the proving keys'
//! bases in device memory (uploaded once at `preload`, counted, freed at the last
//! `release`), finds them again from a [`BasesRef`], and runs the shared
//! [`pipeline`]. The CUDA backend is `BucketMsm<CudaEngine>`; the
//! CPU twin is `BucketMsm<TwinEngine>`, so this bookkeeping is tested without a GPU.
//!
//! Bases of a key that was not preloaded are uploaded for that one call (slower, but
//! correct). An MSM smaller than `cpu_below` points runs on arkworks instead: a GPU
//! launch costs more than it saves there.

use std::{
    collections::HashMap,
    panic::{self, AssertUnwindSafe},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use ark_bn254::{Bn254, G1Affine, G1Projective, G2Affine, G2Projective, g1, g2};
use ark_ec::{
    VariableBaseMSM,
    short_weierstrass::{Affine, Projective},
};
use ark_ff::Zero;
use ark_groth16::ProvingKey;

use super::{
    layout::{Curve, DeviceCurve, points_to_limbs},
    pipeline::{self, Engine},
    plan::Shape,
};
use crate::prover::msm::{BasesRef, KeyId, MsmBackend, MsmError, Query, ScalarRepr, check_len};

/// One query vector in device memory.
struct DeviceBases<B> {
    buf: B,
    points: usize,
}

/// A preloaded proving key.
struct Preloaded<B> {
    refs: usize,
    queries: HashMap<Query, Arc<DeviceBases<B>>>,
}

/// A bucket-MSM backend on engine `E`.
pub struct BucketMsm<E: Engine> {
    engine: E,
    name: &'static str,
    keys: Mutex<HashMap<KeyId, Preloaded<E::Buf64>>>,
    run: Mutex<()>,
    cpu_below: usize,
    window_bits: Option<u32>,
}

impl<E: Engine> std::fmt::Debug for BucketMsm<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketMsm")
            .field("name", &self.name)
            .field("keys", &self.preloaded_keys())
            .field("cpu_below", &self.cpu_below)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn curve_of(query: Query) -> Curve {
    match query {
        Query::BG2 => Curve::G2,
        Query::A | Query::BG1 | Query::H | Query::L => Curve::G1,
    }
}

impl<E: Engine> BucketMsm<E> {
    /// A backend named `name` (for logs) on `engine`; every MSM runs on the engine.
    pub fn new(engine: E, name: &'static str) -> Self {
        Self {
            engine,
            name,
            keys: Mutex::new(HashMap::new()),
            run: Mutex::new(()),
            cpu_below: 0,
            window_bits: None,
        }
    }

    /// MSMs with fewer than `points` points run on the CPU (arkworks).
    pub fn with_cpu_below(mut self, points: usize) -> Self {
        self.cpu_below = points;
        self
    }

    /// Fixes the window width instead of choosing it from the size (for tests).
    pub fn with_window_bits(mut self, c: u32) -> Self {
        self.window_bits = Some(c);
        self
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Number of proving keys held in device memory.
    pub fn preloaded_keys(&self) -> usize {
        lock(&self.keys).len()
    }

    fn error(&self, message: impl Into<String>) -> MsmError {
        MsmError::Backend {
            backend: self.name,
            message: message.into(),
        }
    }

    fn upload<C: DeviceCurve>(
        &self,
        points: &[Affine<C>],
    ) -> Result<Arc<DeviceBases<E::Buf64>>, MsmError> {
        let buf = self.engine.upload_u64(&points_to_limbs(points))?;
        Ok(Arc::new(DeviceBases {
            buf,
            points: points.len(),
        }))
    }

    fn lookup(&self, key: KeyId, query: Query) -> Option<Arc<DeviceBases<E::Buf64>>> {
        lock(&self.keys)
            .get(&key)
            .and_then(|k| k.queries.get(&query))
            .cloned()
    }

    fn msm<C: DeviceCurve>(
        &self,
        bases: BasesRef<'_, Affine<C>>,
        scalars: &[ScalarRepr],
    ) -> Result<Projective<C>, MsmError> {
        check_len(&bases, scalars)?;
        let n = scalars.len();
        if n == 0 {
            return Ok(Projective::zero());
        }
        if n < self.cpu_below {
            return Ok(Projective::<C>::msm_bigint(bases.points, scalars));
        }
        if curve_of(bases.query) != C::CURVE {
            return Err(self.error(format!(
                "{:?} bases asked for in the wrong group",
                bases.query
            )));
        }
        let shape = match self.window_bits {
            Some(c) => Shape::with_window_bits(n, c),
            None => Shape::for_points(n),
        }
        .ok_or_else(|| self.error(format!("{n} points is more than one MSM supports")))?;
        let device = match self.lookup(bases.key, bases.query) {
            Some(held) => {
                if bases.start.saturating_add(n) > held.points {
                    return Err(self.error(format!(
                        "{:?} bases {}..{} are outside the preloaded {} points",
                        bases.query,
                        bases.start,
                        bases.start + n,
                        held.points
                    )));
                }
                (held, bases.start)
            }
            None => (self.upload(bases.points)?, 0),
        };
        let _one_at_a_time = lock(&self.run);
        let (held, first) = device;
        panic::catch_unwind(AssertUnwindSafe(|| {
            pipeline::run::<E, C>(&self.engine, &held.buf, first, scalars, shape)
        }))
        .unwrap_or_else(|panic| {
            Err(self.error(format!("panicked: {}", panic_text(panic.as_ref()))))
        })
    }
}

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string())
}

impl<E: Engine> MsmBackend for BucketMsm<E> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn preload(&self, key: KeyId, pk: &ProvingKey<Bn254>) -> Result<(), MsmError> {
        let mut keys = lock(&self.keys);
        if let Some(held) = keys.get_mut(&key) {
            held.refs += 1;
            return Ok(());
        }
        let mut queries = HashMap::new();
        for (query, points) in [
            (Query::A, &pk.a_query),
            (Query::BG1, &pk.b_g1_query),
            (Query::H, &pk.h_query),
            (Query::L, &pk.l_query),
        ] {
            queries.insert(query, self.upload::<g1::Config>(points)?);
        }
        queries.insert(Query::BG2, self.upload::<g2::Config>(&pk.b_g2_query)?);
        keys.insert(key, Preloaded { refs: 1, queries });
        Ok(())
    }

    fn release(&self, key: KeyId) {
        let mut keys = lock(&self.keys);
        if let Some(held) = keys.get_mut(&key) {
            held.refs = held.refs.saturating_sub(1);
            if held.refs == 0 {
                keys.remove(&key);
            }
        }
    }

    fn msm_g1(
        &self,
        bases: BasesRef<'_, G1Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G1Projective, MsmError> {
        self.msm::<g1::Config>(bases, scalars)
    }

    fn msm_g2(
        &self,
        bases: BasesRef<'_, G2Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G2Projective, MsmError> {
        self.msm::<g2::Config>(bases, scalars)
    }
}
