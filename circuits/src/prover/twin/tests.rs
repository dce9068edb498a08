//! The twin against arkworks: limb arithmetic, point formulas, digit extraction and
//! whole MSMs (G1 and G2) through the shared pipeline and backend.

use ark_bn254::{
    Bn254, Fq as ArkFq, Fq2 as ArkFq2, Fr, G1Affine, G1Projective, G2Projective, g1, g2,
};
use ark_ec::{
    AffineRepr, CurveGroup, PrimeGroup, VariableBaseMSM,
    short_weierstrass::{Affine as ArkAffine, Projective},
};
use ark_ff::{AdditiveGroup, Field, PrimeField, UniformRand, Zero};
use ark_groth16::ProvingKey;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{
    curve::{Affine, Xyzz, xyzz_add, xyzz_add_affine, xyzz_dbl, xyzz_from_affine, xyzz_mul_small},
    engine::TwinEngine,
    field::{Fq, Fq2, TwinField},
    kernels::window_digit,
    twin_msm,
};
use crate::prover::{
    bucket::{
        BucketMsm, DeviceCurve,
        layout::{points_to_limbs, projective_from_xyzz},
        pipeline,
        plan::Shape,
    },
    msm::{BasesRef, KeyId, MsmBackend, MsmError, Query, ScalarRepr},
};

/// The twin's view of an arkworks Fq (same limbs).
fn fq_from_ark(f: &ArkFq) -> Fq {
    Fq { l: f.0.0 }
}

/// The twin's view of an arkworks Fq2.
fn fq2_from_ark(f: &ArkFq2) -> Fq2 {
    Fq2 {
        c0: fq_from_ark(&f.c0),
        c1: fq_from_ark(&f.c1),
    }
}

/// `points`, named as `query[start..]` of the preloaded `key`.
fn bases<G>(key: KeyId, query: Query, start: usize, points: &[G]) -> BasesRef<'_, G> {
    BasesRef {
        key,
        query,
        start,
        points,
    }
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn xyzz_to_ark<C: DeviceCurve>(p: &Xyzz<impl TwinField>) -> Projective<C> {
    let mut limbs = vec![0u64; C::xyzz_limbs()];
    p.store(&mut limbs, 0);
    projective_from_xyzz::<C>(&limbs)
}

fn affine_twin<C: DeviceCurve, F: TwinField>(p: &ArkAffine<C>) -> Affine<F> {
    Affine::load(&points_to_limbs(std::slice::from_ref(p)), 0)
}

// ---- field ----

fn edge_fq() -> Vec<ArkFq> {
    vec![
        ArkFq::zero(),
        ArkFq::from(1u64),
        -ArkFq::from(1u64),
        -ArkFq::from(2u64),
        ArkFq::from(2u64).inverse().unwrap_or_default(),
    ]
}

#[test]
fn fq_edge_cases_match_arkworks() {
    for a in edge_fq() {
        for b in edge_fq() {
            let (ta, tb) = (fq_from_ark(&a), fq_from_ark(&b));
            assert_eq!(ta.f_mul(&tb), fq_from_ark(&(a * b)), "{a} * {b}");
            assert_eq!(ta.f_add(&tb), fq_from_ark(&(a + b)), "{a} + {b}");
            assert_eq!(ta.f_sub(&tb), fq_from_ark(&(a - b)), "{a} - {b}");
        }
    }
    assert_eq!(Fq::f_one(), fq_from_ark(&ArkFq::from(1u64)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fq_ops_match_arkworks(seed in any::<u64>()) {
        let mut r = rng(seed);
        let (a, b) = (ArkFq::rand(&mut r), ArkFq::rand(&mut r));
        let (ta, tb) = (fq_from_ark(&a), fq_from_ark(&b));
        prop_assert_eq!(ta.f_mul(&tb), fq_from_ark(&(a * b)));
        prop_assert_eq!(ta.f_sqr(), fq_from_ark(&a.square()));
        prop_assert_eq!(ta.f_add(&tb), fq_from_ark(&(a + b)));
        prop_assert_eq!(ta.f_sub(&tb), fq_from_ark(&(a - b)));
        prop_assert_eq!(ta.f_dbl(), fq_from_ark(&a.double()));
    }

    #[test]
    fn fq2_ops_match_arkworks(seed in any::<u64>()) {
        let mut r = rng(seed);
        let (a, b) = (ArkFq2::rand(&mut r), ArkFq2::rand(&mut r));
        let (ta, tb) = (fq2_from_ark(&a), fq2_from_ark(&b));
        prop_assert_eq!(ta.f_mul(&tb), fq2_from_ark(&(a * b)));
        prop_assert_eq!(ta.f_sqr(), fq2_from_ark(&a.square()));
        prop_assert_eq!(ta.f_add(&tb), fq2_from_ark(&(a + b)));
        prop_assert_eq!(ta.f_sub(&tb), fq2_from_ark(&(a - b)));
    }

    #[test]
    fn window_digits_rebuild_the_scalar(seed in any::<u64>(), c in 2u32..=16) {
        let s = Fr::rand(&mut rng(seed)).into_bigint();
        let windows = 254u32.div_ceil(c);
        let mut rebuilt = Fr::zero();
        for w in (0..windows).rev() {
            rebuilt *= Fr::from(1u64 << c);
            rebuilt += Fr::from(window_digit(&s.0, w * c, c));
        }
        prop_assert_eq!(rebuilt.into_bigint(), s);
    }
}

#[test]
fn fq2_roundtrips_through_limbs() {
    let a = ArkFq2::rand(&mut rng(3));
    let mut limbs = [0u64; 8];
    fq2_from_ark(&a).store(&mut limbs);
    assert_eq!(Fq2::load(&limbs), fq2_from_ark(&a));
    assert_eq!(<g2::Config as DeviceCurve>::load_field(&limbs), a);
}

// ---- curve ----

fn check_formulas<C: DeviceCurve, F: TwinField>(seed: u64) {
    let mut r = rng(seed);
    let p = Projective::<C>::rand(&mut r);
    let q = Projective::<C>::rand(&mut r);
    let (pa, qa) = (p.into_affine(), q.into_affine());
    let (tp, tq) = (affine_twin::<C, F>(&pa), affine_twin::<C, F>(&qa));
    // a non-trivial XYZZ representative of p: p + q - q
    let xp = xyzz_add_affine(
        &xyzz_add_affine(&xyzz_from_affine(&tp), &tq),
        &affine_twin(&(-qa)),
    );
    assert_eq!(xyzz_to_ark::<C>(&xp), p);
    assert_eq!(xyzz_to_ark::<C>(&xyzz_add_affine(&xp, &tq)), p + q);
    assert_eq!(xyzz_to_ark::<C>(&xyzz_add_affine(&xp, &tp)), p.double());
    assert!(xyzz_to_ark::<C>(&xyzz_add_affine(&xp, &affine_twin(&(-pa)))).is_zero());
    assert_eq!(
        xyzz_to_ark::<C>(&xyzz_add_affine(&xp, &affine_twin(&ArkAffine::<C>::zero()))),
        p
    );
    let xq = xyzz_from_affine(&tq);
    assert_eq!(xyzz_to_ark::<C>(&xyzz_add(&xp, &xq)), p + q);
    assert_eq!(xyzz_to_ark::<C>(&xyzz_add(&xp, &xp)), p.double());
    assert_eq!(
        xyzz_to_ark::<C>(&xyzz_add(&xp, &xyzz_from_affine(&tp))),
        p.double()
    );
    assert!(xyzz_to_ark::<C>(&xyzz_add(&xp, &xyzz_from_affine(&affine_twin(&(-pa))))).is_zero());
    assert_eq!(xyzz_to_ark::<C>(&xyzz_dbl(&xp)), p.double());
    for k in [0u32, 1, 2, 3, 31, 32, 65_535, u32::MAX] {
        assert_eq!(
            xyzz_to_ark::<C>(&xyzz_mul_small(&xp, k)),
            p * C::ScalarField::from(k)
        );
    }
}

#[test]
fn g1_formulas_match_arkworks() {
    for seed in 0..8 {
        check_formulas::<g1::Config, Fq>(seed);
    }
}

#[test]
fn g2_formulas_match_arkworks() {
    for seed in 0..4 {
        check_formulas::<g2::Config, Fq2>(seed);
    }
}

// ---- whole MSMs ----

fn twin_run<C: DeviceCurve>(
    points: &[ArkAffine<C>],
    scalars: &[ScalarRepr],
    c: u32,
) -> Projective<C> {
    let shape = Shape::with_window_bits(points.len(), c).unwrap_or_else(|| panic!("shape c={c}"));
    let bases = points_to_limbs(points);
    pipeline::run::<TwinEngine, C>(&TwinEngine, &bases, 0, scalars, shape)
        .unwrap_or_else(|e| panic!("twin msm: {e}"))
}

fn random_points<C: DeviceCurve>(n: usize, r: &mut ChaCha20Rng) -> Vec<ArkAffine<C>> {
    let points: Vec<Projective<C>> = (0..n).map(|_| Projective::<C>::rand(r)).collect();
    Projective::normalize_batch(&points)
}

fn random_scalars(n: usize, r: &mut ChaCha20Rng) -> Vec<ScalarRepr> {
    (0..n).map(|_| Fr::rand(r).into_bigint()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn g1_twin_msm_matches_arkworks(seed in any::<u64>(), n in 0usize..80, c in 2u32..=7) {
        let mut r = rng(seed);
        let points = random_points::<g1::Config>(n, &mut r);
        let scalars = random_scalars(n, &mut r);
        prop_assert_eq!(twin_run(&points, &scalars, c), G1Projective::msm_bigint(&points, &scalars));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn g2_twin_msm_matches_arkworks(seed in any::<u64>(), n in 0usize..24, c in 3u32..=6) {
        let mut r = rng(seed);
        let points = random_points::<g2::Config>(n, &mut r);
        let scalars = random_scalars(n, &mut r);
        prop_assert_eq!(twin_run(&points, &scalars, c), G2Projective::msm_bigint(&points, &scalars));
    }
}

#[test]
fn lopsided_and_degenerate_inputs() {
    let mut r = rng(9);
    let n = 200;
    let mut points = random_points::<g1::Config>(n, &mut r);
    // repeated points, negations and infinity among the bases
    points[1] = points[0];
    points[2] = -points[0];
    points[3] = G1Affine::zero();
    let one = Fr::from(1u64).into_bigint();
    let cases: Vec<Vec<ScalarRepr>> = vec![
        vec![one; n],                             // one bucket of 200: 3 levels
        vec![Fr::zero().into_bigint(); n],        // nothing at all
        vec![(-Fr::from(1u64)).into_bigint(); n], // r - 1: every top digit
        (0..n as u64)
            .map(|i| Fr::from(i % 3).into_bigint())
            .collect(),
        random_scalars(n, &mut r),
    ];
    for scalars in cases {
        for c in [2, 4, 5] {
            assert_eq!(
                twin_run(&points, &scalars, c),
                G1Projective::msm_bigint(&points, &scalars),
                "c = {c}"
            );
        }
    }
}

#[test]
fn default_shape_for_a_thousand_points() {
    let mut r = rng(4);
    let n = 1000;
    let points = random_points::<g1::Config>(n, &mut r);
    let scalars = random_scalars(n, &mut r);
    let c = Shape::for_points(n).map(|s| s.c).unwrap_or(0);
    assert_eq!(
        twin_run(&points, &scalars, c),
        G1Projective::msm_bigint(&points, &scalars)
    );
}

// ---- backend bookkeeping ----

/// A fake proving key: only the query vectors matter to the backend.
fn fake_key(n: usize, r: &mut ChaCha20Rng) -> ProvingKey<Bn254> {
    let g1s = |r: &mut ChaCha20Rng| random_points::<g1::Config>(n, r);
    ProvingKey {
        vk: Default::default(),
        beta_g1: G1Affine::generator(),
        delta_g1: G1Affine::generator(),
        a_query: g1s(r),
        b_g1_query: g1s(r),
        b_g2_query: random_points::<g2::Config>(n, r),
        h_query: g1s(r),
        l_query: g1s(r),
    }
}

#[test]
fn backend_addresses_preloaded_bases_and_counts_references() {
    let mut r = rng(5);
    let pk = fake_key(40, &mut r);
    let key = KeyId([7; 32]);
    let backend = twin_msm();
    backend.preload(key, &pk).unwrap_or_else(|e| panic!("{e}"));
    backend.preload(key, &pk).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(backend.preloaded_keys(), 1);

    let scalars = random_scalars(30, &mut r);
    for (query, points) in [(Query::A, &pk.a_query), (Query::L, &pk.l_query)] {
        let tail = &points[10..];
        let got = backend.msm_g1(bases(key, query, 10, tail), &scalars);
        assert_eq!(got, Ok(G1Projective::msm_bigint(tail, &scalars)));
    }
    let tail = &pk.b_g2_query[10..];
    let got = backend.msm_g2(bases(key, Query::BG2, 10, tail), &scalars);
    assert_eq!(got, Ok(G2Projective::msm_bigint(tail, &scalars)));

    // out of range of the preloaded vector
    let tail = &pk.h_query[20..];
    let got = backend.msm_g1(bases(key, Query::H, 20, tail), &scalars[..20]);
    assert_eq!(got, Ok(G1Projective::msm_bigint(tail, &scalars[..20])));
    let bad = backend.msm_g1(bases(key, Query::H, 21, tail), &scalars[..20]);
    assert!(matches!(bad, Err(MsmError::Backend { .. })), "{bad:?}");
    // wrong group
    let bad = backend.msm_g1(bases(key, Query::BG2, 0, tail), &scalars[..20]);
    assert!(matches!(bad, Err(MsmError::Backend { .. })), "{bad:?}");
    // length mismatch
    let bad = backend.msm_g1(bases(key, Query::H, 0, tail), &scalars);
    assert!(
        matches!(bad, Err(MsmError::LengthMismatch { .. })),
        "{bad:?}"
    );

    backend.release(key);
    assert_eq!(backend.preloaded_keys(), 1);
    backend.release(key);
    assert_eq!(backend.preloaded_keys(), 0);
    backend.release(key); // harmless

    // not preloaded: bases are uploaded for the call
    let points = &pk.a_query[..30];
    let got = backend.msm_g1(bases(key, Query::A, 0, points), &scalars);
    assert_eq!(got, Ok(G1Projective::msm_bigint(points, &scalars)));
}

#[test]
fn small_msms_can_stay_on_the_cpu() {
    let mut r = rng(6);
    let points = random_points::<g1::Config>(10, &mut r);
    let scalars = random_scalars(10, &mut r);
    let backend = BucketMsm::new(TwinEngine, "twin")
        .with_cpu_below(64)
        .with_window_bits(3);
    let bases = BasesRef {
        key: KeyId([0; 32]),
        query: Query::A,
        start: 0,
        points: &points[..],
    };
    assert_eq!(
        backend.msm_g1(bases, &scalars),
        Ok(G1Projective::msm_bigint(&points, &scalars))
    );
    assert_eq!(
        backend.msm_g1(
            BasesRef {
                points: &[],
                ..bases
            },
            &[]
        ),
        Ok(G1Projective::zero())
    );
}

#[test]
fn generator_times_scalar_bits() {
    // Σ 2^i · G over all 254 bit positions, one point per scalar bit.
    let g = G1Affine::generator();
    let points = vec![g; 254];
    let scalars: Vec<ScalarRepr> = (0..254u32)
        .map(|i| <Fr as PrimeField>::BigInt::from(1u64) << i)
        .filter(|s| *s < Fr::MODULUS)
        .collect();
    let points = &points[..scalars.len()];
    let want = G1Projective::msm_bigint(points, &scalars);
    assert_eq!(twin_run(points, &scalars, 7), want);
    assert_eq!(
        want,
        G1Projective::generator()
            * scalars
                .iter()
                .map(|s| Fr::from_bigint(*s).unwrap_or_default())
                .sum::<Fr>()
    );
}

#[test]
fn kernel_constants_are_the_twins_and_arkworks() {
    use super::field::{FQ_INV, FQ_ONE, FQ_P};
    use crate::prover::bucket::{plan::DENSE_BIT, source};

    let p: Vec<Option<u64>> = (0..4)
        .map(|i| source::define(&format!("FQ_P{i}")))
        .collect();
    let one: Vec<Option<u64>> = (0..4)
        .map(|i| source::define(&format!("FQ_ONE{i}")))
        .collect();
    assert_eq!(p, FQ_P.map(Some).to_vec());
    assert_eq!(one, FQ_ONE.map(Some).to_vec());
    assert_eq!(source::define("FQ_INV"), Some(FQ_INV));
    // and the twin's constants are arkworks'
    assert_eq!(FQ_P, <ArkFq as PrimeField>::MODULUS.0);
    assert_eq!(FQ_ONE, ArkFq::R.0);
    assert_eq!(FQ_INV, ArkFq::INV);
    assert_eq!(source::define("MSM_DENSE_BIT"), Some(u64::from(DENSE_BIT)));
    assert_eq!(source::define("MSM_SCALAR_LIMBS"), Some(4));
}
