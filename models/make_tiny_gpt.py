"""tiny-gpt: a small GPT-2-style language model trained here, with its own byte-level BPE
tokenizer, exported to ONNX with a KV cache (models/gpt.py), plus references from onnxruntime.

Corpus: the King James Version of the Bible (1611; public domain), as Debian's package
`bible-kjv-text` 4.38 ships it, compressed for random access; the package's own reader
(`bible`, Debian package `bible-kjv` 4.38, GPL-2+) prints it. Both .deb files are fetched with
`apt-get download` (no install) into models/cache/gpt/corpus. One verse per line, the
references (`Ge1:1`) dropped, `<|endoftext|>` between books.

Needs models/requirements-gpt.txt (scripts/gpt-models.sh tiny). Seeded, one thread,
deterministic algorithms: the tokenizer comes out byte for byte the same; the weights were
trained once. Writes models/tiny-gpt/{tiny-gpt.onnx, tokenizer.json, training.json,
reference/}. 1,200 steps of 16 x 128 tokens: 26 minutes here beside six other builds.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from gpt import GPT, check_export, export, generation_references, sha256, tokenizer_vectors

HERE = Path(__file__).parent
OUT = HERE / "tiny-gpt"
CORPUS_DIR = HERE / "cache" / "gpt" / "corpus"
DEBIAN_PACKAGES = ["bible-kjv=4.38", "bible-kjv-text=4.38"]

VOCAB = 1024
CONTEXT = 128
WIDTH = 128
LAYERS = 4
HEADS = 4
BATCH = 16
STEPS = int(os.environ.get("TINY_GPT_STEPS", "1200"))
LEARNING_RATE = 3e-3
SEED = 0
END = "<|endoftext|>"

PROMPTS = [
    "In the beginning",
    "And the LORD said unto Moses,",
    "Blessed are the",
    "The king",
]
MAX_NEW_TOKENS = 48


def corpus() -> str:
    text_path = CORPUS_DIR / "kjv.txt"
    if text_path.exists():
        return text_path.read_text()
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=CORPUS_DIR, check=True)
    root = CORPUS_DIR / "root"
    for deb in sorted(CORPUS_DIR.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    # -f turns pretty-printing off: one "Book1:1 text" line per verse.
    dump = subprocess.run(
        [str(root / "usr/bin/bible"), "-f", "-p", str(root / "usr/lib"), "gen1:1-rev22:21"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    books, previous = [], None
    for line in dump.splitlines():
        match = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$", line)
        if not match:
            continue
        book, verse = match.group(1), match.group(4).strip()
        if book != previous:
            books.append([])
            previous = book
        books[-1].append(verse)
    text = f"\n{END}\n".join("\n".join(verses) for verses in books) + "\n"
    text_path.write_text(text)
    return text


def train_tokenizer(text: str, path: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=[END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(text.split(f"\n{END}\n"), trainer=trainer)
    tokenizer.save(str(path))
    return tokenizer


def train(ids: np.ndarray) -> tuple[GPT, list[dict]]:
    torch.manual_seed(SEED)
    model = GPT(VOCAB, CONTEXT, WIDTH, LAYERS, HEADS)
    # GPT-2's initialisation: N(0, 0.02), residual projections scaled by depth.
    for name, parameter in model.named_parameters():
        if parameter.dim() == 2:
            std = 0.02 / np.sqrt(2 * LAYERS) if name.endswith("proj.weight") else 0.02
            torch.nn.init.normal_(parameter, std=std)
        elif name.endswith("bias"):
            torch.nn.init.zeros_(parameter)
    held_out = len(ids) // 20
    train_ids, valid_ids = torch.from_numpy(ids[:-held_out]), torch.from_numpy(ids[-held_out:])
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(s, STEPS) / STEPS))),
    )
    generator = torch.Generator().manual_seed(SEED)
    empty = model.empty_past(BATCH)

    def batch(source):
        starts = torch.randint(0, len(source) - CONTEXT - 1, (BATCH,), generator=generator)
        x = torch.stack([source[s : s + CONTEXT] for s in starts])
        y = torch.stack([source[s + 1 : s + CONTEXT + 1] for s in starts])
        return x, y

    def loss_of(x, y):
        logits = model(x, *empty)[0]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))

    log, started = [], time.time()
    model.train()
    for step in range(STEPS + 1):
        if step % 250 == 0 or step == STEPS:
            model.eval()
            with torch.no_grad():
                valid = float(np.mean([loss_of(*batch(valid_ids)).item() for _ in range(8)]))
            model.train()
            log.append({"step": step, "valid_loss": round(valid, 4), "seconds": round(time.time() - started, 1)})
            print(json.dumps(log[-1]), flush=True)
        if step == STEPS:
            break
        if step % 50 == 0:
            print(f"step {step} at {time.time() - started:.0f} s", flush=True)
        x, y = batch(train_ids)
        loss = loss_of(x, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
    return model.eval(), log


def main() -> None:
    torch.set_num_threads(int(os.environ.get("TINY_GPT_THREADS", "1")))
    torch.use_deterministic_algorithms(True)
    OUT.mkdir(parents=True, exist_ok=True)
    text = corpus()
    tokenizer_path = OUT / "tokenizer.json"
    tokenizer = train_tokenizer(text, tokenizer_path)
    ids = np.array(tokenizer.encode(text).ids, dtype=np.int64)
    print(f"corpus: {len(text.encode())} bytes, {len(ids)} tokens", flush=True)
    model, log = train(ids)
    model_path = OUT / "tiny-gpt.onnx"
    export(model, model_path)
    print(f"exported; cached decode against torch: max |difference| {check_export(model, model_path):.2e}")
    reference = OUT / "reference"
    reference.mkdir(exist_ok=True)
    tokenizer_vectors(tokenizer, reference / "tokenizer.json")
    cases = generation_references(model_path, tokenizer_path, PROMPTS, MAX_NEW_TOKENS, reference, model.config)
    for case in cases:
        print(repr(case["prompt"] + case["completion_text"]), f"min margin {case['min_margin']:.3f}")
    training = {
        "corpus": {
            "debian_packages": DEBIAN_PACKAGES,
            "bytes": len(text.encode()),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "tokens": len(ids),
        },
        "tokenizer": {"kind": "byte-level BPE (HF tokenizers)", "vocab": VOCAB, "special": [END]},
        "model": {**model.config, "parameters": sum(p.numel() for p in model.parameters())},
        "training": {
            "steps": STEPS,
            "batch": BATCH,
            "learning_rate": LEARNING_RATE,
            "seed": SEED,
            "threads": torch.get_num_threads(),
            "held_out": "the last 5 % of the token stream",
            "log": log,
        },
        "versions": {"torch": torch.__version__, "python": sys.version.split()[0]},
        "files": {
            "tiny-gpt.onnx": sha256(model_path.read_bytes()),
            "tokenizer.json": sha256(tokenizer_path.read_bytes()),
        },
    }
    (OUT / "training.json").write_text(json.dumps(training, indent=1) + "\n")
    print(f"tiny-gpt.onnx: {model_path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
