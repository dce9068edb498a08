//! ONNX models an operator adds: loaded and quantized, or refused with an error.
#![no_main]

use lagrange_circuits::zkml::onnx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = onnx::load(data, 12) {
        assert!(model.validate().is_ok());
    }
});
