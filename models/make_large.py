"""Writes a large synthetic ONNX model: a chain of dense layers with seeded random weights.

    python models/make_large.py --mib 1024      # models/cache/large/large-1024mib.onnx

The graph is `y = tanh(... tanh(tanh(x @ W0) @ W1) ... @ W{L-1})` with x f32[1, 2048] and
each W f32[2048, 2048] (16 MiB): as many layers as fit in `mib` MiB with the protobuf's few
hundred bytes (at least one), so `--mib 1024` writes 63 layers, 1008 MiB, within the
canister's 1 GiB MAX_MODEL_BYTES. Weights are normal(0, 1/sqrt(2048)) from numpy's
PCG64 seeded with 0 (and the layer's index), so the outputs stay in tanh's range and every
run writes the same bytes. It is the model of the 1 GiB half of issue #18: uploading,
finalizing as a job and running it in steps (tests/tests/large.rs builds the same graph,
smaller, for CI). Needs numpy and onnx (models/requirements.txt), no torch.
"""

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH = 2048
LAYER_MIB = WIDTH * WIDTH * 4 // (1 << 20)


def large_model(layers: int) -> onnx.ModelProto:
    nodes, weights = [], []
    previous = "x"
    for layer in range(layers):
        rng = np.random.Generator(np.random.PCG64([0, layer]))
        w = rng.standard_normal((WIDTH, WIDTH), dtype=np.float32) / np.float32(np.sqrt(WIDTH))
        weights.append(numpy_helper.from_array(w, f"w{layer}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{layer}"], [f"h{layer}"]))
        out = "y" if layer == layers - 1 else f"a{layer}"
        nodes.append(helper.make_node("Tanh", [f"h{layer}"], [out]))
        previous = out
    graph = helper.make_graph(
        nodes,
        "large",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, WIDTH])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "cache" / "large")
    args = parser.parse_args()
    layers = max(1, (args.mib * (1 << 20) - 4096) // (LAYER_MIB << 20))
    model = large_model(layers)
    # The checker refuses protos over 2 GiB in memory only; 1 GiB passes.
    onnx.checker.check_model(model)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"large-{args.mib}mib.onnx"
    data = model.SerializeToString(deterministic=True)
    path.write_bytes(data)
    print(f"{path}: {layers} layers of {WIDTH}x{WIDTH}, {len(data)} bytes, "
          f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
