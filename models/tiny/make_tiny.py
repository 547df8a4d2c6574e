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


def pixels() -> onnx.ModelProto:
    """A u8 image input, as quantised image models take pixels: the mean of each channel
    (for the web page's picture input)."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["image_f32"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["image_f32"], ["channel_means"], axes=[2, 3], keepdims=1),
        ],
        "pixels",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, 16, 16])],
        # [1, 3, 1, 1]: values to read, not class scores, to the web page.
        [helper.make_tensor_value_info("channel_means", TensorProto.FLOAT, [1, 3, 1, 1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="icinfer")


def int8() -> onnx.ModelProto:
    """Quantised convolutions as onnxruntime's quantiser writes them (QLinearConv between a
    QuantizeLinear and a DequantizeLinear), one of each shape the int8 code treats apart, on u8
    activations: pointwise with k = 6 (not a multiple of four), depthwise 3x3 at strides 1 and
    2 and 5x5, full 3x3 at stride 1 (k = 81) and 2 (k = 63); a depthwise 3x3 on i8
    activations; and u8 pixels normalised per channel (Cast, Mul, Add) before they are
    quantised, as an image model that takes pixels does. Weights are deterministic bytes."""
    initializers = []

    def constant(name: str, data_type: int, dims: list[int], values: list) -> str:
        initializers.append(helper.make_tensor(name, data_type, dims, values))
        return name

    def conv(name: str, x: str, x_q: tuple, channels: tuple, kernel: int, stride: int, y_q: tuple, signed: bool = False) -> tuple:
        (in_channels, out_channels, group) = channels
        count = out_channels * (in_channels // group) * kernel * kernel
        weights = [((i * 73 + 11 * len(name)) % 255) - 127 for i in range(count)]
        bias = [((i * 7919) % 2001) - 1000 for i in range(out_channels)]
        activation = TensorProto.INT8 if signed else TensorProto.UINT8
        inputs = [
            x,
            constant(f"{name}_xs", TensorProto.FLOAT, [], [x_q[0]]),
            constant(f"{name}_x0", activation, [], [x_q[1]]),
            constant(f"{name}_w", TensorProto.INT8, [out_channels, in_channels // group, kernel, kernel], weights),
            constant(f"{name}_ws", TensorProto.FLOAT, [], [0.01]),
            constant(f"{name}_w0", TensorProto.INT8, [], [0]),
            constant(f"{name}_ys", TensorProto.FLOAT, [], [y_q[0]]),
            constant(f"{name}_y0", activation, [], [y_q[1]]),
            constant(f"{name}_b", TensorProto.INT32, [out_channels], bias),
        ]
        pad = kernel // 2
        node = helper.make_node(
            "QLinearConv", inputs, [name], group=group, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4
        )
        return node, y_q

    nodes = []
    x_q = (0.025, 128)
    nodes.append(
        helper.make_node(
            "QuantizeLinear",
            ["x", constant("x_s", TensorProto.FLOAT, [], [x_q[0]]), constant("x_0", TensorProto.UINT8, [], [x_q[1]])],
            ["q"],
        )
    )
    layers = [
        ("pointwise_in", (6, 9, 1), 1, 1, (0.1, 120)),
        ("conv_3x3_s2", (9, 8, 1), 3, 2, (0.5, 128)),
        ("depthwise_3x3", (8, 8, 8), 3, 1, (1.0, 130)),
        ("depthwise_3x3_s2", (8, 8, 8), 3, 2, (1.0, 125)),
        ("depthwise_5x5", (8, 8, 8), 5, 1, (2.0, 128)),
        ("conv_3x3", (8, 7, 1), 3, 1, (24.0, 128)),
        ("pointwise_out", (7, 5, 1), 1, 1, (40.0, 128)),
    ]
    x, q = "q", x_q
    for name, channels, kernel, stride, y_q in layers:
        node, q = conv(name, x, q, channels, kernel, stride, y_q)
        nodes.append(node)
        x = name
    nodes.append(
        helper.make_node("DequantizeLinear", [x, f"{x}_ys", f"{x}_y0"], ["y"])
    )
    # The same input as i8 through one depthwise convolution.
    signed_q = (0.025, -3)
    nodes.append(
        helper.make_node(
            "QuantizeLinear",
            ["x", "x_s", constant("x_0_signed", TensorProto.INT8, [], [signed_q[1]])],
            ["q_signed"],
        )
    )
    node, _ = conv("signed_3x3", "q_signed", signed_q, (6, 6, 6), 3, 1, (0.05, 4), signed=True)
    nodes.append(node)
    nodes.append(helper.make_node("DequantizeLinear", ["signed_3x3", "signed_3x3_ys", "signed_3x3_y0"], ["y_signed"]))
    # u8 pixels, normalised per channel, quantised, through a 3x3 convolution at stride 2.
    nodes += [
        helper.make_node("Cast", ["pixels"], ["pixels_f32"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["pixels_f32", constant("pixel_scale", TensorProto.FLOAT, [1, 3, 1, 1], [0.0171, 0.0175, 0.0174])], ["pixels_scaled"]),
        helper.make_node("Add", ["pixels_scaled", constant("pixel_shift", TensorProto.FLOAT, [1, 3, 1, 1], [-2.118, -2.036, -1.804])], ["pixels_normalised"]),
    ]
    pixels_q = (0.0188, 113)
    nodes.append(
        helper.make_node(
            "QuantizeLinear",
            [
                "pixels_normalised",
                constant("pixels_s", TensorProto.FLOAT, [], [pixels_q[0]]),
                constant("pixels_0", TensorProto.UINT8, [], [pixels_q[1]]),
            ],
            ["pixels_q"],
        )
    )
    node, _ = conv("pixels_3x3_s2", "pixels_q", pixels_q, (3, 8, 1), 3, 2, (0.2, 128))
    nodes.append(node)
    nodes.append(helper.make_node("DequantizeLinear", ["pixels_3x3_s2", "pixels_3x3_s2_ys", "pixels_3x3_s2_y0"], ["y_pixels"]))
    graph = helper.make_graph(
        nodes,
        "int8",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 13, 19]),
            helper.make_tensor_value_info("pixels", TensorProto.UINT8, [1, 3, 13, 19]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 4, 5]),
            helper.make_tensor_value_info("y_signed", TensorProto.FLOAT, [1, 6, 13, 19]),
            helper.make_tensor_value_info("y_pixels", TensorProto.FLOAT, [1, 8, 7, 10]),
        ],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="icinfer")


if __name__ == "__main__":
    save(affine(), "affine.onnx")
    save(classify(), "classify.onnx")
    save(int8(), "int8.onnx")
    save(pixels(), "pixels.onnx")
