"""Crafted models that attack the load path (issue #20), for tests/tests/hostile.rs.

Each is what the ONNX format allows a caller to upload; none passes onnx.checker, which is
the point: the canister must refuse them with a typed error before tract builds anything.
Deterministic; needs only the `onnx` package.
"""

from pathlib import Path

from onnx import TensorProto, helper

HERE = Path(__file__).parent


def save(graph, name: str) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="")
    (HERE / name).write_bytes(model.SerializeToString(deterministic=True))


def constant_of_shape_bomb():
    """The 176-byte model of issue #20: ConstantOfShape of 2^28 into a ReduceSum."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [1 << 28])
    return helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["big"]), helper.make_node("ReduceSum", ["big"], ["sum"])],
        "bomb", [], [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [])], [shape])


def oversized_initializer():
    """An initializer declared [2^32 + 4] holding 16 bytes (wasm32 tract read it as [4])."""
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[(1 << 32) + 4], raw_data=bytes(16))
    return helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "oversized",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])


def huge_dimension():
    """A dimension of 2^31, which panicked inside tract on wasm32."""
    return helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 31])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 31])])


def contrib_operator():
    """onnxruntime's QAttention (com.microsoft), a contrib operator icinfer does not implement."""
    node = helper.make_node("QAttention", ["x"], ["y"], name="attention_0", domain="com.microsoft")
    return helper.make_graph(
        [node], "contrib", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])


if __name__ == "__main__":
    save(constant_of_shape_bomb(), "constant_of_shape_bomb.onnx")
    save(oversized_initializer(), "oversized_initializer.onnx")
    save(huge_dimension(), "huge_dimension.onnx")
    save(contrib_operator(), "contrib_operator.onnx")
