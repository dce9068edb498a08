//! Witnesses computed from a circuit's input signals, by the witness generator (`.wasm`)
//! the circom compiler made, run in wasmer through ark-circom's calculator.
//!
//! The module is compiled once; each witness runs in a fresh instance. Inputs are a JSON
//! object of signal names to values, as circom's `input.json`: a value is a decimal string
//! or a non-negative integer, or an array (nested for multi-dimensional signals, flattened
//! in order).

use std::collections::HashMap;

use ark_bn254::Fr;
use num_bigint::BigInt;
use wasmer::{Engine, Module, Store};

use super::{CircomError, Witness};

/// Largest `.wasm` accepted: 64 MiB.
pub const MAX_WASM_BYTES: usize = 64 << 20;

/// Largest input JSON accepted: 1 MiB.
pub const MAX_INPUT_JSON: usize = 1 << 20;

/// A circuit's witness generator.
pub struct WitnessGenerator {
    engine: Engine,
    module: Module,
}

impl std::fmt::Debug for WitnessGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WitnessGenerator")
    }
}

impl WitnessGenerator {
    /// Compiles a `.wasm` witness generator.
    pub fn new(wasm: &[u8]) -> Result<Self, CircomError> {
        if wasm.len() > MAX_WASM_BYTES {
            return Err(CircomError::TooLarge {
                what: ".wasm",
                len: wasm.len(),
                max: MAX_WASM_BYTES,
            });
        }
        let store = Store::default();
        let module = Module::new(&store, wasm).map_err(|e| CircomError::Malformed {
            what: ".wasm",
            reason: e.to_string(),
        })?;
        Ok(Self {
            engine: store.engine().clone(),
            module,
        })
    }

    /// Computes the witness for `inputs` (an `input.json` object), which must give
    /// `expected` values in all (the circuit's input signals, arrays flattened). Does not
    /// check the constraints: see [`super::R1cs::check`].
    pub fn witness(&self, inputs: &str, expected: usize) -> Result<Witness, CircomError> {
        let signals = parse_inputs(inputs)?;
        let given: usize = signals.values().map(Vec::len).sum();
        if given != expected {
            return Err(CircomError::Inputs(format!(
                "{given} input values given ({}); the circuit takes {expected}: a signal is missing, extra or of the wrong size",
                {
                    let mut names: Vec<&str> = signals.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    names.join(", ")
                }
            )));
        }
        let run = || -> Result<Vec<Fr>, String> {
            let mut store = Store::new(self.engine.clone());
            let mut calculator =
                ark_circom::WitnessCalculator::from_module(&mut store, self.module.clone())
                    .map_err(|e| format!("the witness generator does not load: {e}"))?;
            calculator
                .calculate_witness_element::<Fr, _>(&mut store, signals, true)
                .map_err(|e| e.to_string())
        };
        let values = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(values)) => values,
            Ok(Err(reason)) => return Err(CircomError::Inputs(reason)),
            Err(_) => {
                return Err(CircomError::Inputs(
                    "the witness generator failed on these inputs".into(),
                ));
            }
        };
        Ok(Witness { values })
    }
}

/// Reads an `input.json` object into signal name → flattened values.
fn parse_inputs(text: &str) -> Result<HashMap<String, Vec<BigInt>>, CircomError> {
    let bad = |reason: String| CircomError::Malformed {
        what: "input JSON",
        reason,
    };
    if text.len() > MAX_INPUT_JSON {
        return Err(CircomError::TooLarge {
            what: "input JSON",
            len: text.len(),
            max: MAX_INPUT_JSON,
        });
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad("not an object of signal names to values".into()));
    };
    let mut out = HashMap::new();
    for (name, value) in map {
        let mut values = Vec::new();
        flatten(&value, &mut values, 0).map_err(|e| bad(format!("signal {name}: {e}")))?;
        out.insert(name, values);
    }
    Ok(out)
}

fn flatten(value: &serde_json::Value, out: &mut Vec<BigInt>, depth: usize) -> Result<(), String> {
    if depth > 16 {
        return Err("arrays nested more than 16 deep".into());
    }
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                flatten(item, out, depth + 1)?;
            }
            Ok(())
        }
        serde_json::Value::String(s) => {
            let n: BigInt = s
                .parse()
                .map_err(|_| format!("{s:?} is not a decimal number"))?;
            out.push(n);
            Ok(())
        }
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(n) => {
                out.push(BigInt::from(n));
                Ok(())
            }
            None => Err(format!(
                "{n} is not a non-negative integer (use a decimal string)"
            )),
        },
        other => Err(format!("{other} is not a number")),
    }
}
