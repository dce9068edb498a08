//! ONNX models an operator adds: loaded and quantized, or refused with an error.
use lagrange_circuits::zkml::onnx;

pub fn check(data: &[u8]) {
    if let Ok(model) = onnx::load(data, 12) {
        assert!(model.validate().is_ok());
    }
}
