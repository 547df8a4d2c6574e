"""Small models with onnxruntime's contrib operators (com.microsoft), made by onnxruntime's
own quantiser where it writes them, and onnxruntime's reference outputs, for
tests/tests/corpus.rs (`contrib_operators_match_onnxruntime`). Deterministic (seeded);
run with the corpus venv (onnx, onnxruntime 1.31.1):

    models/cache/corpus-venv/bin/python models/corpus/contrib/make_contrib.py

Writes <id>.onnx and <id>/ (cases.json and .npy files) here, and index.json: each model's
operators and its tolerance, an absolute max |Δ| fixed here before the Rust side ran:
- the DynamicQuantizeLSTM models: 1e-4 · max |reference| as the corpus (the integer
  products are exact; only the float gates' rounding may differ);
- the QOperator model: one step of its output's quantisation (onnxruntime's fixed-point
  kernels and the standard operators that define them can round a tie apart).
References run with one thread: onnxruntime's LSTM quantises each thread's part of a batch
apart (lstm.rs says more).
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH = os.path.join(HERE, "..", "..", "cache", "contrib")
os.makedirs(SCRATCH, exist_ok=True)
RNG = np.random.default_rng(22)


def save_float(graph, name, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(SCRATCH, name + "-float.onnx")
    onnx.save(model, path)
    return path


def lstm_graph(direction, batch, peepholes, initial_state):
    seq, inputs, hidden = 6, 8, 16
    dirs = 2 if direction == "bidirectional" else 1
    init = [
        numpy_helper.from_array(RNG.normal(0, 0.4, (dirs, 4 * hidden, inputs)).astype(np.float32), "W"),
        numpy_helper.from_array(RNG.normal(0, 0.4, (dirs, 4 * hidden, hidden)).astype(np.float32), "R"),
        numpy_helper.from_array(RNG.normal(0, 0.2, (dirs, 8 * hidden)).astype(np.float32), "B"),
    ]
    names = ["x", "W", "R", "B", "", "", "", ""]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inputs])]
    if initial_state:
        names[5], names[6] = "h0", "c0"
        graph_inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [dirs, batch, hidden])
                         for n in ("h0", "c0")]
    if peepholes:
        names[7] = "P"
        init.append(numpy_helper.from_array(RNG.normal(0, 0.3, (dirs, 3 * hidden)).astype(np.float32), "P"))
    while names[-1] == "":
        names.pop()
    node = helper.make_node("LSTM", names, ["y", "y_h", "y_c"], hidden_size=hidden, direction=direction)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, dirs, batch, hidden]),
               helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [dirs, batch, hidden]),
               helper.make_tensor_value_info("y_c", TensorProto.FLOAT, [dirs, batch, hidden])]
    return helper.make_graph([node], "lstm", graph_inputs, outputs, init)


def qoperator_graph():
    """Conv, LeakyRelu, x·Sigmoid(x), a residual Add, a Mul, Concat, AveragePool,
    GlobalAveragePool and Gemm: what quantize_static writes QLinear* nodes for."""
    c = 4
    w = lambda name, shape, s=0.3: numpy_helper.from_array(RNG.normal(0, s, shape).astype(np.float32), name)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c1"], ["l1"], alpha=0.1),
        helper.make_node("Sigmoid", ["l1"], ["s1"]),
        helper.make_node("Mul", ["l1", "s1"], ["m1"]),
        helper.make_node("Add", ["m1", "x"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["a1", "c2"], ["cat"], axis=1),
        helper.make_node("AveragePool", ["cat"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "wg", "bg"], ["y"], transB=1),
    ]
    init = [w("w1", (c, c, 3, 3)), w("b1", (c,), 0.1), w("w2", (c, c, 3, 3)), w("b2", (c,), 0.1),
            w("wg", (5, 2 * c)), w("bg", (5,), 0.1)]
    return helper.make_graph(nodes, "qoperators",
                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 8, 8])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], init)


class Reader(CalibrationDataReader):
    def __init__(self, samples):
        self.samples = iter(samples)

    def get_next(self):
        return next(self.samples, None)


def dynamic_quantize_matmul():
    """onnxruntime's quantiser fuses no DynamicQuantizeMatMul (its graph optimiser does),
    so the node is written here as that fusion writes it."""
    k, n = 16, 8
    b = RNG.integers(-127, 128, (k, n)).astype(np.int8)
    init = [numpy_helper.from_array(b, "B"),
            numpy_helper.from_array(np.array(0.02, np.float32), "b_scale"),
            numpy_helper.from_array(np.array(3, np.int8), "b_zero_point"),
            numpy_helper.from_array(RNG.normal(0, 0.5, (n,)).astype(np.float32), "bias")]
    node = helper.make_node("DynamicQuantizeMatMul", ["a", "B", "b_scale", "b_zero_point", "bias"], ["y"],
                            domain="com.microsoft")
    graph = helper.make_graph([node], "dqmm", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model


def session(path_or_bytes):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def write_cases(model_id, model_bytes, cases):
    sess = session(model_bytes)
    out_dir = os.path.join(HERE, model_id)
    os.makedirs(out_dir, exist_ok=True)
    listed = []
    for number, inputs in enumerate(cases):
        names = [o.name for o in sess.get_outputs()]
        outputs = dict(zip(names, sess.run(None, inputs)))
        entry = {"inputs": {}, "outputs": {}}
        for kind, tensors in (("inputs", inputs), ("outputs", outputs)):
            for name, value in tensors.items():
                file = f"case{number}-{kind[:-1]}-{name}.npy"
                np.save(os.path.join(out_dir, file), value)
                entry[kind][name] = file
        listed.append((entry, outputs))
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump({"cases": [e for e, _ in listed]}, f, indent=1)
    return [o for _, o in listed]


def ops_of(model):
    return sorted({(n.domain or "ai.onnx") + "." + n.op_type for n in model.graph.node
                   if n.domain == "com.microsoft"})


def main():
    index = []
    for model_id, direction, batch, peepholes, initial in [
        ("dq-lstm-forward", "forward", 1, False, False),
        ("dq-lstm-reverse-peepholes", "reverse", 1, True, True),
        ("dq-lstm-bidirectional-batch3", "bidirectional", 3, False, True),
    ]:
        float_path = save_float(lstm_graph(direction, batch, peepholes, initial), model_id)
        quantised = os.path.join(HERE, model_id + ".onnx")
        quantize_dynamic(float_path, quantised, op_types_to_quantize=["LSTM"], weight_type=QuantType.QInt8)
        model = onnx.load(quantised)
        dirs = 2 if direction == "bidirectional" else 1
        cases = []
        for _ in range(2):
            case = {"x": RNG.normal(0, 1, (6, batch, 8)).astype(np.float32)}
            if initial:
                case["h0"] = RNG.normal(0, 0.5, (dirs, batch, 16)).astype(np.float32)
                case["c0"] = RNG.normal(0, 0.5, (dirs, batch, 16)).astype(np.float32)
            cases.append(case)
        outputs = write_cases(model_id, model.SerializeToString(), cases)
        scale = max(float(np.abs(v).max()) for o in outputs for v in o.values())
        index.append({"id": model_id, "operators": ops_of(model), "tolerance": 1e-4 * scale})

    float_path = save_float(qoperator_graph(), "qoperators")
    samples = [{"x": RNG.normal(0, 1, (1, 4, 8, 8)).astype(np.float32)} for _ in range(8)]
    quantised = os.path.join(HERE, "qoperators.onnx")
    quantize_static(float_path, quantised, Reader(samples), quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    model = onnx.load(quantised)
    write_cases("qoperators", model.SerializeToString(), samples[:2])
    # One step of the output's quantisation: the scale of the DequantizeLinear writing y.
    last = next(n for n in model.graph.node if "y" in n.output)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    step = float(inits[last.input[1]]) if last.op_type == "DequantizeLinear" else None
    index.append({"id": "qoperators", "operators": ops_of(model), "tolerance": step,
                  "output_written_by": last.op_type})

    model = dynamic_quantize_matmul()
    onnx.save(model, os.path.join(HERE, "dynamic-quantize-matmul.onnx"))
    cases = [{"a": RNG.normal(0, 1, (3, 16)).astype(np.float32)} for _ in range(2)]
    outputs = write_cases("dynamic-quantize-matmul", model.SerializeToString(), cases)
    scale = max(float(np.abs(v).max()) for o in outputs for v in o.values())
    index.append({"id": "dynamic-quantize-matmul", "operators": ops_of(model), "tolerance": 1e-4 * scale})

    with open(os.path.join(HERE, "index.json"), "w") as f:
        json.dump({"models": index}, f, indent=1)
    for entry in index:
        print(entry)


if __name__ == "__main__":
    main()
