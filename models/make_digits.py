"""The digits classifier: a 64-128-10 MLP trained on scikit-learn's bundled 8x8 digits.

Writes models/digits/digits.onnx (committed, ~40 KB) and its reference cases. Deterministic:
fixed split and seed. Needs models/requirements.txt.
"""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from reference import write_cases

HERE = Path(__file__).parent / "digits"


def to_onnx(model: MLPClassifier, accuracy: float) -> onnx.ModelProto:
    """The trained network as a plain ONNX graph: MatMul, Add, Relu, Softmax, ArgMax.

    Written by hand rather than with skl2onnx, whose classifier output maps the argmax
    through ai.onnx.ml ArrayFeatureExtractor; here the classes are 0..9 already.
    """
    (w1, w2), (b1, b2) = model.coefs_, model.intercepts_
    weights = [
        numpy_helper.from_array(w1.astype(np.float32), "w1"),
        numpy_helper.from_array(b1.astype(np.float32), "b1"),
        numpy_helper.from_array(w2.astype(np.float32), "w2"),
        numpy_helper.from_array(b2.astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["pixels", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h1b"]),
        helper.make_node("Relu", ["h1b"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "w2"], ["h2"]),
        helper.make_node("Add", ["h2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 64])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        initializer=weights,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="icinfer")
    onnx_model.doc_string = f"64-128-10 MLP on sklearn digits (pixels/16), test accuracy {accuracy:.4f}"
    return onnx_model


def main() -> None:
    digits = load_digits()
    # Pixel values 0..16, scaled to 0..1 so the page and the CLI can feed 8x8 grey images.
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    model = MLPClassifier(hidden_layer_sizes=(128,), max_iter=400, random_state=0)
    model.fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))

    onnx_model = to_onnx(model, accuracy)
    HERE.mkdir(exist_ok=True)
    path = HERE / "digits.onnx"
    path.write_bytes(onnx_model.SerializeToString(deterministic=True))
    onnx.checker.check_model(onnx.load(path))

    # The ONNX graph must be the sklearn model: same probabilities, same test accuracy.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities, labels = session.run(None, {"pixels": x_test})
    assert np.allclose(probabilities, model.predict_proba(x_test), atol=1e-5)
    assert float(np.mean(labels == y_test)) == accuracy

    # Reference cases: single test images and one batch of eight.
    cases = [{"pixels": x_test[i : i + 1]} for i in range(4)]
    cases.append({"pixels": x_test[10:18]})
    write_cases(path, HERE / "reference", cases)
    (HERE / "training.json").write_text(
        json.dumps({"test_accuracy": accuracy, "train": len(x_train), "test": len(x_test)}, indent=1) + "\n"
    )
    print(f"digits: test accuracy {accuracy:.4f}, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
