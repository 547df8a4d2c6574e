"""Makes the tiny ONNX models the unit and integration tests use.

Deterministic: running it again writes byte-identical files. Needs only the `onnx`
package (see models/requirements.txt).
"""

from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).parent


def save(model: onnx.ModelProto, name: str) -> None:
    onnx.checker.check_model(model)
    (HERE / name).write_bytes(model.SerializeToString(deterministic=True))


def affine() -> onnx.ModelProto:
    """z = (x + bias) * 2, with a symbolic batch dimension N."""
    bias = helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.5, -1.0, 2.0])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "bias"], ["shifted"]),
            helper.make_node("Mul", ["shifted", "two"], ["z"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3])],
        initializer=[bias, two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="icinfer")


def classify() -> onnx.ModelProto:
    """Two inputs, two outputs of different types: scores = Softmax(x * w), label = ArgMax."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "w"], ["weighted"]),
            helper.make_node("Softmax", ["weighted"], ["scores"], axis=1),
            helper.make_node("ArgMax", ["weighted"], ["label"], axis=1, keepdims=0),
        ],
        "classify",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 4]),
        ],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("label", TensorProto.INT64, [1]),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="icinfer")


if __name__ == "__main__":
    save(affine(), "affine.onnx")
    save(classify(), "classify.onnx")
