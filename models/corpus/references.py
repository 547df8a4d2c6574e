"""onnxruntime reference cases for the corpus (manifest.json): deterministic inputs made
from each model's `inputs` description (seeded per model and case), run through
onnxruntime 1.31.1 on one thread by models/reference.py's write_cases. The CI tier's cases
are committed under models/corpus/reference/, the slow tier's go to
models/cache/corpus/reference/."""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from reference import write_cases  # noqa: E402

DTYPES = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32, "u8": np.uint8}


def reference_dir(model: dict) -> Path:
    if model["tier"] == "ci":
        return HERE / "reference" / model["id"]
    return HERE.parent / "cache" / "corpus" / "reference" / model["id"]


def make_input(rng: np.random.Generator, spec: dict) -> np.ndarray:
    dtype, shape, fill = DTYPES[spec["dtype"]], spec["shape"], spec["fill"]
    if fill == "value":
        return np.full(shape, spec["value"], dtype=dtype)
    if fill == "integers":
        return rng.integers(spec["low"], spec["high"], size=shape).astype(dtype)
    if fill == "text":
        # Dark glyph-sized blocks in lines on a white page, normalised to [-1, 1] as
        # rapidocr does: a text detector finds nothing in noise.
        image = np.ones(shape, dtype=dtype)
        height, width = shape[-2], shape[-1]
        for top in range(4, height - 12, 20):
            left = int(rng.integers(2, 12))
            while left < width - 10:
                glyph = int(rng.integers(4, 9))
                image[..., top:top + 12, left:left + glyph] = -1
                left += glyph + int(rng.integers(2, 5))
        return image
    if fill == "normal":
        return (rng.standard_normal(shape) * spec["scale"]).astype(dtype)
    return rng.uniform(spec["low"], spec["high"], size=shape).astype(dtype)


def main() -> None:
    manifest = json.loads((HERE / "manifest.json").read_text())
    only = set(sys.argv[1:])
    for model in manifest["models"]:
        if only and model["id"] not in only:
            continue
        seed = int.from_bytes(hashlib.sha256(model["id"].encode()).digest()[:4], "little")
        cases = []
        for number in range(model.get("cases", 2)):
            rng = np.random.default_rng([seed, number])
            cases.append({name: make_input(rng, spec) for name, spec in model["inputs"].items()})
        path = HERE.parent / "cache" / "corpus" / f"{model['id']}.onnx"
        write_cases(path, reference_dir(model), cases)
        print(f"{model['id']}: {len(cases)} cases")


if __name__ == "__main__":
    main()
