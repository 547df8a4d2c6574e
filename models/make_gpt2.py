"""gpt2 and gpt2-int8: GPT-2 small's architecture (124 M parameters) with seeded random
weights, exported with its KV cache (models/gpt.py), f32 and int8, into models/cache/gpt/gpt2,
with GPT-2's own tokenizer and references from onnxruntime. For cost: random weights write
no text worth reading, and their logits have near-ties (each reference step records its top-2
margin).

- Weights: transformers' GPT2LMHeadModel(GPT2Config()) initialised under torch.manual_seed(0),
  loaded into our module, whose logits are checked against transformers' own forward.
- Tokenizer: GPT-2's BPE ranks as openai-whisper ships them (whisper/assets/gpt2.tiktoken in
  the PyPI sdist openai-whisper 20250625, fetched with `pip download --no-deps`, not
  installed), converted to an HF tokenizer.json (merges recovered from the ranks) and checked
  token for token against tiktoken's encoder built from the same ranks.
- int8: onnxruntime's dynamic quantisation of the weight matrices, as minilm-int8
  (DynamicQuantizeLinear + MatMulInteger, i8 weights, one scale per tensor), the output
  projection included, and of the token embedding (an i8 Gather, then DequantizeLinear); the
  attention's two activation-by-activation MatMuls stay f32, as do positions, layer norms and
  the cache.

Needs models/requirements-gpt.txt (torch tier plus tokenizers, tiktoken). Slow tier: about
1.2 GB of files, several minutes.
"""

import base64
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from gpt import (
    TOKENIZER_TEXTS,
    check_export,
    check_graph,
    export,
    from_gpt2_state_dict,
    generation_references,
    quantise,
    sha256,
    shared_embedding,
    tokenizer_vectors,
)

HERE = Path(__file__).parent
OUT = HERE / "cache" / "gpt" / "gpt2"
WHISPER = "openai-whisper==20250625"
END = "<|endoftext|>"
# GPT-2's pre-tokenisation pattern (tiktoken's "gpt2" encoding; the same as ByteLevel's regex).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PROMPTS = [
    "The Internet Computer runs",
    "Once upon a time, there was",
]
MAX_NEW_TOKENS = 16


def gpt2_ranks() -> dict[bytes, int]:
    cached = OUT / "gpt2.tiktoken"
    if not cached.exists():
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                    scratch,
                    WHISPER,
                ],
                check=True,
            )
            (sdist,) = Path(scratch).glob("openai_whisper-*.tar.gz")
            with tarfile.open(sdist) as archive:
                (member,) = [m for m in archive.getmembers() if m.name.endswith("whisper/assets/gpt2.tiktoken")]
                cached.write_bytes(archive.extractfile(member).read())
    ranks = {}
    for line in cached.read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """A token of rank r is the last merge of BPE over its own bytes with the ranks below r:
    run that BPE until two parts remain; those two are the merge that made it."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            pairs = [(ranks.get(parts[i] + parts[i + 1]), i) for i in range(len(parts) - 1)]
            _, at = min((r, i) for r, i in pairs if r is not None and r < rank)
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        merges.append((parts[0], parts[1]))
    return merges


def gpt2_tokenizer(path: Path):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    from gpt import byte_level_decoder

    ranks = gpt2_ranks()
    to_char = {b: c for c, b in byte_level_decoder().items()}

    def chars(data: bytes) -> str:
        return "".join(to_char[b] for b in data)

    vocab = {chars(token): rank for token, rank in ranks.items()}
    merges = [(chars(a), chars(b)) for a, b in merges_from_ranks(ranks)]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(END, special=True)])
    assert tokenizer.token_to_id(END) == len(ranks) == 50256
    tokenizer.save(str(path))
    check_against_tiktoken(tokenizer, ranks)
    return tokenizer


def check_against_tiktoken(tokenizer, ranks: dict[bytes, int]) -> None:
    import tiktoken

    reference = tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={END: 50256})
    texts = list(TOKENIZER_TEXTS)
    corpus = HERE / "cache" / "gpt" / "corpus" / "kjv.txt"
    if corpus.exists():
        lines = corpus.read_text().splitlines()
        texts += ["\n".join(lines[i : i + 40]) for i in range(0, len(lines), 1500)]
    for text in texts:
        ours = tokenizer.encode(text).ids
        theirs = reference.encode(text, allowed_special={END})
        assert ours == theirs, (text[:60], ours[:20], theirs[:20])
    print(f"gpt2 tokenizer.json equals tiktoken on {len(texts)} texts")


def main() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    config = GPT2Config()
    torch.manual_seed(0)
    theirs = GPT2LMHeadModel(config).eval()
    ours = from_gpt2_state_dict(theirs.state_dict(), config)
    parameters = sum(p.numel() for p in ours.parameters())
    ids = torch.randint(0, config.vocab_size, (1, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        difference = float((ours(ids, *ours.empty_past())[0] - theirs(ids).logits).abs().max())
    assert difference < 1e-4, difference
    print(f"gpt2: {parameters} parameters; our module against transformers: max |difference| {difference:.2e}")

    tokenizer_path = OUT / "tokenizer.json"
    tokenizer = gpt2_tokenizer(tokenizer_path)
    tokenizer_vectors(tokenizer, OUT / "tokenizer-vectors.json")

    f32 = OUT / "gpt2.onnx"
    export(ours, f32)
    # Quantised from the export as written, where the output projection is its own
    # initializer (an i8 copy of the embedding, as the Gather's is): then the f32 file gets
    # its one shared embedding.
    int8 = OUT / "gpt2-int8.onnx"
    print(f"gpt2-int8 operators: {quantise(f32, int8, config.n_layer)}")
    check_graph(int8, config.n_layer)
    print(f"gpt2-int8.onnx: {int8.stat().st_size} bytes")
    shared_embedding(f32)
    print(f"gpt2.onnx: {f32.stat().st_size} bytes; cached decode against torch: {check_export(ours, f32):.2e}")

    summary = {"parameters": parameters, "transformers_check": difference, "files": {}}
    for name, path in (("gpt2", f32), ("gpt2-int8", int8)):
        cases = generation_references(
            path, tokenizer_path, PROMPTS, MAX_NEW_TOKENS, OUT / f"{name}-reference", ours.config
        )
        summary["files"][path.name] = {"bytes": path.stat().st_size, "sha256": sha256(path.read_bytes())}
        for case in cases:
            print(f"{name}: {case['prompt']!r} -> {case['greedy_ids']} min margin {case['min_margin']:.4f}")
    summary["files"]["tokenizer.json"] = {"sha256": sha256(tokenizer_path.read_bytes())}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
