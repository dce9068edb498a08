//! The CUDA kernels themselves, run on the CPU: `kernel_emulation/harness.cpp` compiles
//! the `.cu` sources as host C++ (built-ins stubbed in `shim.h`), replays the pipeline's
//! launch sequence as loops over threads, and checks G1 and G2 MSMs against arkworks'
//! answers written here. This checks the kernel text (not just its Rust twin) on
//! machines without a GPU; it skips when no C++ compiler is found (`$CXX`, `c++`,
//! `g++`, `clang++`).

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use ark_bn254::{Fr, g1, g2};
use ark_ec::{
    AffineRepr, CurveGroup, VariableBaseMSM,
    short_weierstrass::{Affine, Projective},
};
use ark_ff::{PrimeField, UniformRand};
use lagrange_circuits::prover::bucket::layout::{DeviceCurve, points_to_limbs};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn compiler() -> Option<String> {
    let candidates = std::env::var("CXX")
        .ok()
        .into_iter()
        .chain(["c++", "g++", "clang++"].map(String::from));
    candidates.into_iter().find(|cxx| {
        Command::new(cxx)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Scalars of a case: random, all one (one huge bucket), or small values.
#[derive(Clone, Copy)]
enum Scalars {
    Random,
    Ones,
    Small,
}

fn write_case<C: DeviceCurve>(out: &mut String, n: usize, seed: u64, kind: Scalars) {
    let mut r = ChaCha20Rng::seed_from_u64(seed);
    let mut points: Vec<Affine<C>> = (0..n)
        .map(|_| Projective::<C>::rand(&mut r).into_affine())
        .collect();
    if n > 4 {
        points[1] = points[0]; // doubling inside a bucket
        points[2] = -points[0]; // cancellation
        points[3] = Affine::<C>::zero(); // infinity among the bases
    }
    let scalars: Vec<_> = (0..n as u64)
        .map(|i| match kind {
            Scalars::Random => Fr::rand(&mut r).into_bigint(),
            Scalars::Ones => Fr::from(1u64).into_bigint(),
            Scalars::Small => Fr::from(i % 3).into_bigint(),
        })
        .collect();
    let want = Projective::<C>::msm_bigint(&points, &scalars).into_affine();
    let group = if C::FIELD_LIMBS == 4 { 1 } else { 2 };
    let limbs = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let scalar_limbs: Vec<u64> = scalars.iter().flat_map(|s| s.0).collect();
    let _ = writeln!(out, "{group} {n}");
    let _ = writeln!(out, "{}", limbs(&points_to_limbs(&points)));
    let _ = writeln!(out, "{}", limbs(&scalar_limbs));
    let _ = writeln!(out, "{}", limbs(&points_to_limbs(&[want])));
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn cuda_kernels_compute_msms_when_emulated_on_the_cpu() {
    let Some(cxx) = compiler() else {
        eprintln!("skipping: no C++ compiler to emulate the kernels with");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lagrange-kernel-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let exe = dir.join("harness");
    run(Command::new(&cxx)
        .args(["-std=c++17", "-O2", "-Wall", "-Wno-unknown-pragmas", "-I"])
        .arg(root.join("src/prover/cuda/kernels"))
        .arg("-o")
        .arg(&exe)
        .arg(root.join("tests/kernel_emulation/harness.cpp")));

    let mut cases = String::new();
    let g1_cases = [
        (1, Scalars::Random),
        (5, Scalars::Random),
        (64, Scalars::Random),
        (300, Scalars::Ones),
        (300, Scalars::Small),
        (2000, Scalars::Random),
    ];
    let g2_cases = [
        (5, Scalars::Random),
        (100, Scalars::Random),
        (300, Scalars::Ones),
    ];
    for (seed, &(n, kind)) in (0u64..).zip(&g1_cases) {
        write_case::<g1::Config>(&mut cases, n, seed, kind);
    }
    for (seed, &(n, kind)) in (100u64..).zip(&g2_cases) {
        write_case::<g2::Config>(&mut cases, n, seed, kind);
    }
    let input = dir.join("cases.txt");
    let count = g1_cases.len() + g2_cases.len();
    std::fs::write(&input, format!("{count}\n{cases}"))
        .unwrap_or_else(|e| panic!("{}: {e}", input.display()));

    let report = run(Command::new(&exe).arg(&input));
    eprint!("{report}");
    assert_eq!(report.matches(": ok").count(), 4 * count, "{report}");
    std::fs::remove_dir_all(&dir).ok();
}
