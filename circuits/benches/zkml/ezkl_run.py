"""Proves one ONNX model with ezkl, for `cargo bench -p lagrange-circuits --bench zkml`.

Usage: python3 ezkl_run.py MODEL.onnx INPUTS.json WORKDIR OUT.json

INPUTS.json holds {"inputs": [[...], ...], "float_outputs": [[...], ...]}: the inputs the
Rust side used and the float outputs tract computed for them. This script:
  1. generates and calibrates ezkl's settings ("resources") with input and output
     visibility "hashed" (Poseidon commitments, as the Groth16 slices use) and the weights
     "fixed" (part of the circuit, as in the Groth16 circuit);
  2. compiles the circuit, generates its SRS locally (nothing is downloaded), sets up keys;
  3. proves and verifies the first input, timing each step;
  4. runs ezkl's witness generation on every input and compares its rescaled outputs with
     the float outputs (argmax agreement and largest absolute error).
It writes the figures as JSON to OUT.json.
"""

import asyncio
import inspect
import json
import os
import sys
import time

import ezkl


def call(fn, *args, **kwargs):
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    return result


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = call(fn, *args, **kwargs)
    return result, (time.perf_counter() - start) * 1000.0


def argmax(xs):
    return max(range(len(xs)), key=lambda i: xs[i])


def main():
    model, inputs_path, work, out = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    p = lambda name: os.path.join(work, name)
    with open(inputs_path) as f:
        data = json.load(f)
    inputs, floats = data["inputs"], data["float_outputs"]

    def write_input(path, x):
        with open(path, "w") as f:
            json.dump({"input_data": [x]}, f)

    write_input(p("input.json"), inputs[0])
    with open(p("calibration.json"), "w") as f:
        json.dump({"input_data": [sum(inputs[:10], [])]}, f)

    run_args = ezkl.PyRunArgs()
    run_args.input_visibility = "hashed"
    run_args.output_visibility = "hashed"
    run_args.param_visibility = "fixed"
    figures = {"version": getattr(ezkl, "__version__", "unknown"), "visibility": "input hashed, output hashed, weights fixed"}
    call(ezkl.gen_settings, model, p("settings.json"), py_run_args=run_args)
    try:
        call(ezkl.calibrate_settings, p("calibration.json"), model, p("settings.json"), "resources")
    except Exception as e:  # calibration data of one batch may not fit every version
        figures["calibration"] = f"skipped: {e}"
    _, figures["compile_ms"] = timed(ezkl.compile_circuit, model, p("model.compiled"), p("settings.json"))
    with open(p("settings.json")) as f:
        settings = json.load(f)
    logrows = settings["run_args"]["logrows"]
    figures["logrows"] = logrows
    _, figures["srs_ms"] = timed(ezkl.gen_srs, p("kzg.srs"), logrows)
    call(ezkl.gen_witness, p("input.json"), p("model.compiled"), p("witness.json"))
    _, figures["setup_ms"] = timed(ezkl.setup, p("model.compiled"), p("vk.key"), p("pk.key"), p("kzg.srs"))
    _, figures["prove_ms"] = timed(ezkl.prove, p("witness.json"), p("model.compiled"), p("pk.key"), p("proof.json"), p("kzg.srs"))
    ok, figures["verify_ms"] = timed(ezkl.verify, p("proof.json"), p("settings.json"), p("vk.key"), p("kzg.srs"))
    figures["verified"] = bool(ok)
    with open(p("proof.json")) as f:
        proof = json.load(f)
    raw = proof.get("proof")
    if isinstance(raw, str):
        figures["proof_bytes"] = len(bytes.fromhex(raw.removeprefix("0x")))
    elif isinstance(raw, list):
        figures["proof_bytes"] = len(raw)

    agree, worst = 0, 0.0
    start = time.perf_counter()
    for i, (x, want) in enumerate(zip(inputs, floats)):
        write_input(p("one.json"), x)
        call(ezkl.gen_witness, p("one.json"), p("model.compiled"), p("one.witness.json"))
        with open(p("one.witness.json")) as f:
            w = json.load(f)
        got = [float(v) for v in w["pretty_elements"]["rescaled_outputs"][0]]
        agree += argmax(got) == argmax(want)
        worst = max(worst, max(abs(a - b) for a, b in zip(got, want)))
    figures["witness_ms_each"] = (time.perf_counter() - start) * 1000.0 / len(inputs)
    figures["argmax_agreement"] = agree / len(inputs)
    figures["max_abs_error"] = worst
    with open(out, "w") as f:
        json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
