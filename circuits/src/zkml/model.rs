//! A quantized network and its reference evaluator.
//!
//! Fixed point with scale `2^scale_bits`: a real `v` is the integer `round(v · 2^s)`.
//! Activations are signed integers of [`ACT_BITS`] bits, `-2^23 <= a < 2^23`; weights too. A layer
//! computes, for each output, the accumulator `acc = Σ w·x + b` (at scale `2^2s`; the bias
//! is stored at that scale, plus `2^(s-1)` so that the floor below rounds half up), then
//! `y = floor(acc / 2^s)`, which must fit the activation range, then `max(y, 0)` when the
//! layer is followed by a ReLU. [`QuantizedModel::evaluate`] computes exactly what the
//! circuit proves; an activation out of range is an error here and an unsatisfiable
//! circuit there.

use serde::{Deserialize, Serialize};

use super::ZkmlError;

/// Bits of a signed activation or weight: values lie in `[-2^23, 2^23)`.
pub const ACT_BITS: u32 = 24;

/// The fixed-point scale used unless a model says otherwise: 12 fractional bits (real
/// activations in `[-2048, 2048)`, in steps of `1/4096`).
pub const DEFAULT_SCALE_BITS: u32 = 12;

/// Largest magnitude (exclusive) of an activation or a weight.
pub const ACT_LIMIT: i64 = 1 << (ACT_BITS - 1);

/// Most multiply-accumulate terms in one model (weights, counted once per output for a
/// convolution), which bounds proving memory.
pub const MAX_MACS: usize = 1 << 24;

/// Quantizes real values with `scale_bits` fractional bits: `round(v · 2^s)`, each within
/// the activation range.
pub fn quantize(input: &[f32], scale_bits: u32) -> Result<Vec<i64>, ZkmlError> {
    let scale = (1u64 << scale_bits.min(62)) as f64;
    input
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let q = (f64::from(*v) * scale).round();
            if !q.is_finite() || !in_range(q as i64) {
                return Err(ZkmlError::InputRange {
                    index: i,
                    value: *v,
                    limit: ACT_LIMIT as f64 / scale,
                });
            }
            Ok(q as i64)
        })
        .collect()
}

/// Whether `v` fits a signed activation: `-2^23 <= v < 2^23`.
pub fn in_range(v: i64) -> bool {
    (-ACT_LIMIT..ACT_LIMIT).contains(&v)
}

/// One layer, with its ReLU fused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    /// `y = W·x + b`, `W` of `outputs × inputs`, row-major.
    Dense {
        /// Inputs.
        inputs: usize,
        /// Outputs.
        outputs: usize,
        /// Quantized weights, row-major.
        weights: Vec<i64>,
        /// Quantized biases, at the accumulator's scale.
        bias: Vec<i64>,
        /// Followed by a ReLU.
        relu: bool,
    },
    /// A 2-D convolution over `in_ch × height × width` (channel-major), no dilation, no
    /// groups, the same stride and zero padding on both axes.
    Conv2d {
        /// Input channels.
        in_ch: usize,
        /// Output channels.
        out_ch: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Kernel height and width.
        kernel: (usize, usize),
        /// Stride.
        stride: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Quantized weights, `out_ch × in_ch × kh × kw`.
        weights: Vec<i64>,
        /// Quantized biases, at the accumulator's scale.
        bias: Vec<i64>,
        /// Followed by a ReLU.
        relu: bool,
    },
}

impl Layer {
    /// Inputs it reads.
    pub fn input_len(&self) -> usize {
        match self {
            Layer::Dense { inputs, .. } => *inputs,
            Layer::Conv2d {
                in_ch,
                height,
                width,
                ..
            } => in_ch * height * width,
        }
    }

    /// Output height and width of a convolution.
    fn out_hw(&self) -> (usize, usize) {
        match self {
            Layer::Dense { .. } => (1, 1),
            Layer::Conv2d {
                height,
                width,
                kernel,
                stride,
                pad,
                ..
            } => (
                (height + 2 * pad).saturating_sub(kernel.0) / stride + 1,
                (width + 2 * pad).saturating_sub(kernel.1) / stride + 1,
            ),
        }
    }

    /// Outputs it writes.
    pub fn output_len(&self) -> usize {
        match self {
            Layer::Dense { outputs, .. } => *outputs,
            Layer::Conv2d { out_ch, .. } => {
                let (h, w) = self.out_hw();
                out_ch * h * w
            }
        }
    }

    /// Whether a ReLU follows.
    pub fn relu(&self) -> bool {
        match self {
            Layer::Dense { relu, .. } | Layer::Conv2d { relu, .. } => *relu,
        }
    }

    /// Each output's bias and its terms `(input index, weight)`: the linear map the layer
    /// applies before rescaling. Zero weights and padding are left out.
    pub fn terms(&self) -> Vec<(i64, Vec<(usize, i64)>)> {
        match self {
            Layer::Dense {
                inputs,
                outputs,
                weights,
                bias,
                ..
            } => (0..*outputs)
                .map(|o| {
                    let row = &weights[o * inputs..(o + 1) * inputs];
                    let terms = row
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| **w != 0)
                        .map(|(i, w)| (i, *w))
                        .collect();
                    (bias[o], terms)
                })
                .collect(),
            Layer::Conv2d {
                in_ch,
                out_ch,
                height,
                width,
                kernel: (kh, kw),
                stride,
                pad,
                weights,
                bias,
                ..
            } => {
                let (oh, ow) = self.out_hw();
                let mut out = Vec::with_capacity(out_ch * oh * ow);
                for oc in 0..*out_ch {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut terms = Vec::new();
                            for ic in 0..*in_ch {
                                for ky in 0..*kh {
                                    for kx in 0..*kw {
                                        let y = (oy * stride + ky) as isize - *pad as isize;
                                        let x = (ox * stride + kx) as isize - *pad as isize;
                                        if y < 0
                                            || x < 0
                                            || y >= *height as isize
                                            || x >= *width as isize
                                        {
                                            continue;
                                        }
                                        let w = weights[((oc * in_ch + ic) * kh + ky) * kw + kx];
                                        if w != 0 {
                                            let i = (ic * height + y as usize) * width + x as usize;
                                            terms.push((i, w));
                                        }
                                    }
                                }
                            }
                            out.push((bias[oc], terms));
                        }
                    }
                }
                out
            }
        }
    }

    /// Checks sizes and that weights fit the activation range.
    fn validate(&self, index: usize) -> Result<(), ZkmlError> {
        let bad = |reason: String| ZkmlError::Shape {
            layer: index,
            reason,
        };
        let (weights, bias, want_w, want_b) = match self {
            Layer::Dense {
                inputs,
                outputs,
                weights,
                bias,
                ..
            } => (weights, bias, inputs * outputs, *outputs),
            Layer::Conv2d {
                in_ch,
                out_ch,
                height,
                width,
                kernel,
                stride,
                pad,
                weights,
                bias,
                ..
            } => {
                if *stride == 0 || kernel.0 == 0 || kernel.1 == 0 {
                    return Err(bad("zero stride or kernel".into()));
                }
                if kernel.0 > height + 2 * pad || kernel.1 > width + 2 * pad {
                    return Err(bad("kernel larger than the padded input".into()));
                }
                (weights, bias, out_ch * in_ch * kernel.0 * kernel.1, *out_ch)
            }
        };
        if weights.len() != want_w || bias.len() != want_b {
            return Err(bad(format!(
                "{} weights and {} biases, expected {want_w} and {want_b}",
                weights.len(),
                bias.len()
            )));
        }
        if self.input_len() == 0 || self.output_len() == 0 {
            return Err(bad("empty layer".into()));
        }
        if let Some(w) = weights.iter().find(|w| !in_range(**w)) {
            return Err(ZkmlError::OutOfRange {
                what: format!("a weight of layer {index}"),
                value: *w,
            });
        }
        if let Some(b) = bias.iter().find(|b| b.abs() >= 1 << 48) {
            return Err(ZkmlError::OutOfRange {
                what: format!("a bias of layer {index}"),
                value: *b,
            });
        }
        Ok(())
    }
}

/// A quantized feed-forward network: layers applied in order to a flat input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizedModel {
    /// Fractional bits of the fixed-point scale.
    pub scale_bits: u32,
    /// The layers, in order.
    pub layers: Vec<Layer>,
}

impl QuantizedModel {
    /// Checks that layers chain (each reads what the previous writes), that weights fit
    /// the activation range and that the model is not too large to prove.
    pub fn validate(&self) -> Result<(), ZkmlError> {
        if self.layers.is_empty() {
            return Err(ZkmlError::Shape {
                layer: 0,
                reason: "the model has no layers".into(),
            });
        }
        if !(1..=12).contains(&self.scale_bits) {
            return Err(ZkmlError::Shape {
                layer: 0,
                reason: format!("scale of {} bits (1 to 12 supported)", self.scale_bits),
            });
        }
        let mut macs = 0usize;
        for (i, layer) in self.layers.iter().enumerate() {
            layer.validate(i)?;
            if i > 0 && self.layers[i - 1].output_len() != layer.input_len() {
                return Err(ZkmlError::Shape {
                    layer: i,
                    reason: format!(
                        "reads {} values, the previous layer writes {}",
                        layer.input_len(),
                        self.layers[i - 1].output_len()
                    ),
                });
            }
            macs = macs.saturating_add(layer.output_len().saturating_mul(layer.input_len()));
        }
        if macs > MAX_MACS * 64 {
            return Err(ZkmlError::TooLarge { macs });
        }
        Ok(())
    }

    /// Values the model reads.
    pub fn input_len(&self) -> usize {
        self.layers.first().map_or(0, Layer::input_len)
    }

    /// Values the model writes.
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(0, Layer::output_len)
    }

    /// Quantizes a real input: `round(v · 2^s)`, each within the activation range.
    pub fn quantize_input(&self, input: &[f32]) -> Result<Vec<i64>, ZkmlError> {
        if input.len() != self.input_len() {
            return Err(ZkmlError::InputLength {
                expected: self.input_len(),
                got: input.len(),
            });
        }
        quantize(input, self.scale_bits)
    }

    /// Checks a quantized input's length and range.
    pub fn check_input(&self, input: &[i64]) -> Result<(), ZkmlError> {
        if input.len() != self.input_len() {
            return Err(ZkmlError::InputLength {
                expected: self.input_len(),
                got: input.len(),
            });
        }
        match input.iter().position(|v| !in_range(*v)) {
            Some(i) => Err(ZkmlError::OutOfRange {
                what: format!("input {i}"),
                value: input[i],
            }),
            None => Ok(()),
        }
    }

    /// Runs layers `from..to` on `input` (what layer `from` reads); returns the output of
    /// each of those layers, in order.
    pub fn evaluate_layers(
        &self,
        from: usize,
        to: usize,
        input: &[i64],
    ) -> Result<Vec<Vec<i64>>, ZkmlError> {
        let mut out: Vec<Vec<i64>> = Vec::with_capacity(to.saturating_sub(from));
        for (index, layer) in self.layers.iter().enumerate().take(to).skip(from) {
            let x = out.last().map_or(input, Vec::as_slice);
            if x.len() != layer.input_len() {
                return Err(ZkmlError::InputLength {
                    expected: layer.input_len(),
                    got: x.len(),
                });
            }
            let y = layer
                .terms()
                .iter()
                .enumerate()
                .map(|(o, (bias, terms))| {
                    let acc = terms.iter().fold(i128::from(*bias), |acc, (i, w)| {
                        acc + i128::from(*w) * i128::from(x[*i])
                    });
                    let y = acc.div_euclid(1i128 << self.scale_bits);
                    if !(-i128::from(ACT_LIMIT)..i128::from(ACT_LIMIT)).contains(&y) {
                        return Err(ZkmlError::OutOfRange {
                            what: format!("activation {o} of layer {index}"),
                            value: y.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
                        });
                    }
                    let y = y as i64;
                    Ok(if layer.relu() { y.max(0) } else { y })
                })
                .collect::<Result<Vec<i64>, ZkmlError>>()?;
            out.push(y);
        }
        Ok(out)
    }

    /// Runs the whole model on a quantized input; returns its output.
    pub fn evaluate(&self, input: &[i64]) -> Result<Vec<i64>, ZkmlError> {
        self.check_input(input)?;
        let mut all = self.evaluate_layers(0, self.layers.len(), input)?;
        all.pop().ok_or(ZkmlError::Shape {
            layer: 0,
            reason: "the model has no layers".into(),
        })
    }

    /// An output value as a real number.
    pub fn dequantize(&self, v: i64) -> f32 {
        v as f32 / (1u64 << self.scale_bits) as f32
    }
}
