//! The CUDA C++ source of the MSM kernels, as NVRTC compiles it: the `.cu` files in
//! `cuda/kernels/`, concatenated in dependency order. Compiled into every build (not
//! only with the `cuda` feature) so that tests can hold the kernel to its twin.

/// The whole kernel program.
pub const KERNEL_SOURCE: &str = concat!(
    include_str!("../cuda/kernels/field.cu"),
    "\n",
    include_str!("../cuda/kernels/curve.cu"),
    "\n",
    include_str!("../cuda/kernels/msm.cu"),
    "\n",
    include_str!("../cuda/kernels/selftest.cu"),
);

/// The `extern "C"` entry points the host launches.
pub const KERNEL_NAMES: &[&str] = &[
    "msm_decompose",
    "msm_scatter",
    "g1_accumulate_affine",
    "g2_accumulate_affine",
    "g1_accumulate_xyzz",
    "g2_accumulate_xyzz",
    "g1_bucket_reduce",
    "g2_bucket_reduce",
    "test_fq_mul",
    "test_fq2_mul",
    "test_g1_add",
];

/// The value of `#define NAME value` in the kernel source (hex or decimal, C integer
/// suffixes allowed), if there is exactly one such line.
pub fn define(name: &str) -> Option<u64> {
    let mut found = KERNEL_SOURCE.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("#define") && words.next() == Some(name))
            .then(|| words.next())
            .flatten()
    });
    let value = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let digits = value.trim_end_matches(['u', 'U', 'l', 'L']);
    match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => digits.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_launched_kernel_is_defined() {
        for name in KERNEL_NAMES {
            let entry = format!("__global__ void {name}(");
            assert!(
                KERNEL_SOURCE.contains(&entry),
                "kernel {name} missing from the CUDA source"
            );
        }
    }

    /// Every `__device__` function of the kernels has a Rust function of the same name
    /// in the twin (the entry points' thread-index helper aside).
    #[test]
    fn every_device_function_has_a_twin() {
        let twin = [
            include_str!("../twin/field.rs"),
            include_str!("../twin/curve.rs"),
            include_str!("../twin/kernels.rs"),
        ]
        .concat();
        let device_functions: Vec<&str> = KERNEL_SOURCE
            .lines()
            .filter(|line| line.contains("__device__"))
            .filter_map(|line| line.split('(').next()?.split_whitespace().last())
            .collect();
        assert!(device_functions.len() > 20, "{device_functions:?}");
        for name in device_functions {
            if name == "thread_index" {
                continue;
            }
            assert!(
                twin.contains(&format!("fn {name}(")) || twin.contains(&format!("fn {name}<")),
                "kernel function {name} has no twin"
            );
        }
    }

    #[test]
    fn source_needs_no_headers() {
        // NVRTC has no host headers; the kernels use built-in types only.
        assert!(!KERNEL_SOURCE.contains("#include"));
    }
}
