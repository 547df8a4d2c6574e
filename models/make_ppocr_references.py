"""Reference cases for the PP-OCR models (after fetch_registry.py): synthetic text-like
images, normalised as rapidocr does ((pixel / 255 - 0.5) / 0.5), run through onnxruntime.
The references are committed under models/ppocr/; the models stay in models/cache."""

from pathlib import Path

import numpy as np

from fetch_registry import CACHE
from reference import write_cases

HERE = Path(__file__).parent / "ppocr"


def text_line(height: int, width: int, seed: int) -> np.ndarray:
    """A light page with dark, glyph-like strokes: deterministic, in [-1, 1], NCHW."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width), 235.0)
    x = 4
    while x < width - 8:
        glyph_width = int(rng.integers(4, 9))
        top, bottom = int(height * 0.25), int(height * 0.75)
        image[top:bottom, x : x + 2] = 30.0
        image[top : top + 2, x : x + glyph_width] = 30.0
        if rng.random() < 0.5:
            image[bottom - 2 : bottom, x : x + glyph_width] = 30.0
        x += glyph_width + int(rng.integers(2, 5))
    image += rng.normal(0.0, 4.0, image.shape)
    normalised = (np.clip(image, 0, 255) / 255.0 - 0.5) / 0.5
    return np.repeat(normalised[None, None, :, :], 3, axis=1).astype(np.float32)


def main() -> None:
    write_cases(
        CACHE / "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        HERE / "cls",
        [{"x": text_line(48, 192, seed)} for seed in (1, 2)],
    )
    write_cases(
        CACHE / "ch_PP-OCRv4_det_infer.onnx",
        HERE / "det",
        [{"x": text_line(64, 96, 3)}],
    )
    print("wrote PP-OCR reference cases")


if __name__ == "__main__":
    main()
