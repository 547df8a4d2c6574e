"""Multiply-accumulates per inference of each manifest model, from ONNX shape inference:
Conv and ConvTranspose (kernel x input channels per group x output elements), MatMul and
Gemm. Elementwise work is not counted. Used by docs/performance.md."""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference

HERE = Path(__file__).parent


def fix_inputs(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> None:
    for value in model.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name]):
                dim.Clear()
                dim.dim_value = size


def macs(model: onnx.ModelProto) -> tuple[int, int]:
    """(MACs of the nodes whose shapes are known, number of nodes whose shapes are not)."""
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = unknown = 0
    for node in inferred.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            continue
        if any(not shapes.get(name) or 0 in shapes[name] for name in (node.input[0], node.input[1], node.output[0])):
            unknown += 1
            continue
        if node.op_type in ("Conv", "ConvTranspose"):
            weight = shapes[node.input[1]]
            out = shapes[node.output[0]]
            if node.op_type == "Conv":
                total += int(np.prod(out)) * int(np.prod(weight[1:]))
            else:
                inp = shapes[node.input[0]]
                total += int(np.prod(inp)) * int(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            k = a[-1] if node.op_type == "MatMul" or not any(
                att.name == "transA" and att.i for att in node.attribute
            ) else a[-2]
            total += int(np.prod(out)) * int(k)
    return total, unknown


def main() -> None:
    manifest = json.loads((HERE / "manifest.json").read_text())
    sample_shapes = {
        "digits": {"pixels": [1, 64]},
    }
    for entry in manifest["models"]:
        path = HERE / entry["file"]
        if not path.exists():
            print(f"{entry['id']:12} (not generated)")
            continue
        model = onnx.load(path)
        shapes = {f["name"]: f["shape"] for f in entry.get("input_facts", [])}
        shapes.update(sample_shapes.get(entry["id"], {}))
        fix_inputs(model, shapes)
        total, unknown = macs(model)
        note = f" (+{unknown} nodes of unknown shape)" if unknown else ""
        print(f"{entry['id']:12} {total:>15,} MACs{note}")


if __name__ == "__main__":
    main()
