"""Reference cases: inputs and onnxruntime's outputs, written as .npy files plus a cases.json
that the conformance tests (tests/tests/conformance.rs) read."""

import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def write_cases(model_path: Path, out_dir: Path, cases: list[dict[str, np.ndarray]]) -> None:
    """Runs each case through onnxruntime (1 thread, all optimisations) and records it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    output_names = [o.name for o in session.get_outputs()]
    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for number, inputs in enumerate(cases):
        outputs = session.run(None, inputs)
        entry = {"inputs": {}, "outputs": {}}
        for name, value in inputs.items():
            file = f"case{number}_in_{safe(name)}.npy"
            np.save(out_dir / file, value)
            entry["inputs"][name] = file
        for name, value in zip(output_names, outputs):
            file = f"case{number}_out_{safe(name)}.npy"
            np.save(out_dir / file, np.asarray(value))
            entry["outputs"][name] = file
        index.append(entry)
    meta = {"onnxruntime": ort.__version__, "cases": index}
    (out_dir / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
