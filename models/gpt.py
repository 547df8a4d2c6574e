"""A GPT-2 decoder written out in plain torch, its ONNX export with a KV cache, and the
reference decode loop against onnxruntime. Shared by make_tiny_gpt.py (trained here) and
make_gpt2.py (GPT-2 small's architecture, seeded random weights from transformers).

The module is GPT-2's network exactly (pre-norm blocks, learned positions, tanh GELU, the
output projection tied to the token embedding), so transformers' GPT2LMHeadModel weights load
into it (`from_gpt2_state_dict`). It is written here rather than exported through
transformers so that the graph has the one layout a canister can keep its cache in:

    inputs   input_ids                 i64 [batch, sequence]
             past_key_values.{i}.key   f32 [batch, heads, past_sequence, head_dim]
             past_key_values.{i}.value f32 [batch, heads, past_sequence, head_dim]
    outputs  logits                    f32 [batch, sequence, vocab]
             present.{i}.key / .value  f32 [batch, heads, past_sequence + sequence, head_dim]

(optimum's names for GPT-2). Each present is the output of one two-input Concat of the past
and the new keys on axis 2, the pattern tract-transformers' `detect_kv_cache` rewrites into a
stateful cache; sequence and past lengths stay symbolic. Positions and the causal mask are
Slices of constant tables at [past, past + sequence), so no `position_ids` or
`attention_mask` input is needed, and a first call with an empty past (length 0) is the
prefill: one graph serves prefill and decode.
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width: int, heads: int, context: int) -> None:
        super().__init__()
        self.heads = heads
        self.width = width
        self.head_dim = width // heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.attn_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)

    def forward(self, x, past_key, past_value, mask):
        batch, sequence = x.shape[0], x.shape[1]
        width, head_dim = self.width, self.head_dim
        q, k, v = self.c_attn(self.ln_1(x)).split(width, dim=2)
        q, k, v = (t.reshape(batch, sequence, self.heads, head_dim).transpose(1, 2) for t in (q, k, v))
        key = torch.cat([past_key, k], dim=2)
        value = torch.cat([past_value, v], dim=2)
        scores = (q @ key.transpose(2, 3)) * (1.0 / math.sqrt(head_dim))
        scores = scores.masked_fill(~mask, torch.finfo(torch.float32).min)
        attended = torch.softmax(scores, dim=-1) @ value
        attended = attended.transpose(1, 2).reshape(batch, sequence, width)
        x = x + self.attn_proj(attended)
        x = x + self.mlp_proj(nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, key, value


class GPT(nn.Module):
    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.config = {
            "vocab": vocab,
            "context": context,
            "width": width,
            "layers": layers,
            "heads": heads,
            "kv_heads": heads,
            "head_dim": width // heads,
        }
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, context) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.register_buffer("causal", torch.tril(torch.ones(context, context, dtype=torch.bool)), persistent=False)

    def empty_past(self, batch: int = 1) -> list[torch.Tensor]:
        return empty_past(self.config, batch)

    def forward(self, input_ids, *past):
        """past: key and value per layer, flattened (key 0, value 0, key 1, ...).
        Returns the logits, then the presents in the same order."""
        past_length = past[0].shape[2]
        sequence = input_ids.shape[1]
        end = past_length + sequence
        x = self.wte(input_ids) + self.wpe.weight[past_length:end]
        mask = self.causal[past_length:end, :end]
        presents = []
        for number, block in enumerate(self.blocks):
            x, key, value = block(x, past[2 * number], past[2 * number + 1], mask)
            presents += [key, value]
        logits = self.ln_f(x) @ self.wte.weight.t()
        return (logits, *presents)


def empty_past(config: dict, batch: int = 1, length: int = 0) -> list[torch.Tensor]:
    shape = (batch, config["kv_heads"], length, config["head_dim"])
    return [torch.zeros(shape) for _ in range(2 * config["layers"])]


def from_gpt2_state_dict(state: dict, config) -> GPT:
    """Our module with the weights of a transformers GPT2LMHeadModel (its Conv1D weights are
    stored [in, out], a Linear's [out, in])."""
    model = GPT(config.vocab_size, config.n_positions, config.n_embd, config.n_layer, config.n_head)
    ours = {"wte.weight": state["transformer.wte.weight"], "wpe.weight": state["transformer.wpe.weight"]}
    ours["ln_f.weight"] = state["transformer.ln_f.weight"]
    ours["ln_f.bias"] = state["transformer.ln_f.bias"]
    names = {
        "ln_1": "ln_1",
        "ln_2": "ln_2",
        "c_attn": "attn.c_attn",
        "attn_proj": "attn.c_proj",
        "c_fc": "mlp.c_fc",
        "mlp_proj": "mlp.c_proj",
    }
    for number in range(config.n_layer):
        for mine, theirs in names.items():
            prefix = f"transformer.h.{number}.{theirs}"
            weight = state[f"{prefix}.weight"]
            ours[f"blocks.{number}.{mine}.weight"] = weight if mine.startswith("ln") else weight.t().contiguous()
            ours[f"blocks.{number}.{mine}.bias"] = state[f"{prefix}.bias"]
    model.load_state_dict(ours)
    return model.eval()


def io_names(layers: int) -> tuple[list[str], list[str], list[str]]:
    past = [f"past_key_values.{n}.{kind}" for n in range(layers) for kind in ("key", "value")]
    present = [f"present.{n}.{kind}" for n in range(layers) for kind in ("key", "value")]
    return past, present, ["input_ids", *past]


def export(model: nn.Module, path: Path) -> None:
    """ONNX (opset 17, the legacy exporter: one file), sequence and past lengths symbolic."""
    layers = model.config["layers"]
    past_names, present_names, input_names = io_names(layers)
    # A non-empty example past and a sequence longer than one, so that the tracer keeps every
    # length as a Shape computation instead of folding it into a constant.
    example = (torch.zeros(1, 2, dtype=torch.int64), *empty_past(model.config, length=3))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    for name in past_names:
        axes[name] = {0: "batch", 2: "past_sequence"}
    for name in present_names:
        axes[name] = {0: "batch", 2: "past_sequence + sequence"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=input_names,
            output_names=["logits", *present_names],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def check_graph(path: Path, layers: int) -> None:
    """Every present is a Concat of its past and one other input on axis 2, and every input
    and output has exactly two symbolic axes (batch and a length)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {out: node for node in graph.node for out in node.output}
    past_names, present_names, _ = io_names(layers)
    for past, present in zip(past_names, present_names):
        node = producers[present]
        axis = next(a.i for a in node.attribute if a.name == "axis")
        assert node.op_type == "Concat" and len(node.input) == 2 and node.input[0] == past and axis == 2, node
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        symbolic = [d.dim_param for d in dims if d.dim_param]
        assert len(symbolic) == 2, (value.name, dims)


def check_export(model: nn.Module, path: Path, seed: int = 0) -> float:
    """Checks the exported graph (check_graph), and that onnxruntime's cached decode (prefill
    of 5 tokens with an empty past, then 3 single-token steps) gives torch's logits over the
    full sequence. Returns the largest |difference| in the logits."""
    layers = model.config["layers"]
    check_graph(path, layers)
    past_names, _, _ = io_names(layers)
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config["vocab"], (1, 8), generator=generator)
    with torch.no_grad():
        expected = model(ids, *empty_past(model.config))[0].numpy()
    sess = session(path)
    past = {name: value.numpy() for name, value in zip(past_names, empty_past(model.config))}
    got = []
    for start, end in ((0, 5), (5, 6), (6, 7), (7, 8)):
        logits, *presents = sess.run(None, {"input_ids": ids[:, start:end].numpy(), **past})
        got.append(logits)
        past = dict(zip(past_names, presents))
    difference = float(np.abs(np.concatenate(got, axis=1) - expected).max())
    assert difference < 1e-3 * max(1.0, float(np.abs(expected).max())), difference
    return difference


def quantise(source: Path, target: Path, layers: int) -> list[str]:
    """onnxruntime's dynamic quantisation of every weight matrix (MatMul and the embedding's
    Gather; i8, one scale per tensor), as minilm-int8. The attention's two MatMuls of
    activations per layer stay f32, as do norms, positions and the cache. Returns the
    operators of the result."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source)).graph
    initializers = {i.name for i in graph.initializer}
    activations = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] not in initializers]
    assert len(activations) == 2 * layers, activations
    quantize_dynamic(
        str(source),
        str(target),
        op_types_to_quantize=["MatMul", "Gather"],
        weight_type=QuantType.QInt8,
        nodes_to_exclude=activations,
    )
    model = onnx.load(str(target))
    ops = sorted({n.op_type for n in model.graph.node})
    floats = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 2}
    left = [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gather") and floats & set(n.input)]
    assert not left, f"weights left in f32: {left}"
    return ops


def shared_embedding(path: Path) -> None:
    """The exporter folds the tied output projection (the embedding transposed) into a second
    copy of the embedding (154 MB for GPT-2); put back one Transpose of the embedding itself."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    (gather,) = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in initializers]
    embedding = numpy_helper.to_array(initializers[gather.input[0]])
    (logits,) = [n for n in graph.node if n.output[0] == "logits"]
    folded = initializers.get(logits.input[1])
    assert logits.op_type == "MatMul" and folded is not None
    assert np.array_equal(numpy_helper.to_array(folded), embedding.T)
    graph.initializer.remove(folded)
    transpose = helper.make_node(
        "Transpose", [gather.input[0]], [logits.input[1]], perm=[1, 0], name="tied_output_projection"
    )
    position = list(graph.node).index(logits)
    graph.node.insert(position, transpose)
    onnx.save(model, str(path))


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def greedy_decode(sess, layers: int, kv_heads: int, head_dim: int, prompt_ids: list[int], max_new_tokens: int):
    """The decode loop a canister runs: the whole prompt once with an empty past (the prefill),
    then one token per call, each call's presents fed back as the next call's past.
    Returns the generated ids, the top-2 logit margin at each step, and the last-position
    logits of every step ([steps, vocab])."""
    past_names, _, _ = io_names(layers)
    past = {name: np.zeros((1, kv_heads, 0, head_dim), np.float32) for name in past_names}
    feed = np.array([prompt_ids], dtype=np.int64)
    tokens, margins, step_logits = [], [], []
    for _ in range(max_new_tokens):
        logits, *presents = sess.run(None, {"input_ids": feed, **past})
        last = logits[0, -1]
        top2 = np.sort(last)[-2:]
        token = int(np.argmax(last))
        tokens.append(token)
        margins.append(float(top2[1] - top2[0]))
        step_logits.append(last.astype(np.float32))
        past = dict(zip(past_names, presents))
        feed = np.array([[token]], dtype=np.int64)
    return tokens, margins, np.stack(step_logits)


def token_bytes(tokenizer) -> dict[int, bytes]:
    """Each id's bytes: byte-level BPE writes byte b as one printable character."""
    decode = byte_level_decoder()
    vocab = tokenizer.get_vocab()
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    out = {}
    for piece, id_ in vocab.items():
        out[id_] = piece.encode() if piece in special else bytes(decode[c] for c in piece)
    return out


def byte_level_decoder() -> dict[str, int]:
    """GPT-2's bytes_to_unicode, inverted."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


TOKENIZER_TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "Hello, world!",
    "  two leading spaces, and    a run of four",
    "tabs\tand\nnewlines\n\n\nthree",
    "trailing spaces   ",
    "numbers 12345 and 3.14159",
    "Ünïcödé: café, naïve, Straße",
    "日本語のテキスト",
    "emoji 🙂👍🏽 and a zero-width joiner 👨‍👩‍👧",
    "it's can't we'll they're I'm you've he'd",
    "<|endoftext|>after the end token",
    "",
]


def tokenizer_vectors(tokenizer, path: Path) -> None:
    """Test vectors for a Rust BPE: text → ids → each id's bytes → the text again."""
    table = token_bytes(tokenizer)
    cases = []
    for text in TOKENIZER_TEXTS:
        ids = tokenizer.encode(text).ids
        pieces = [table[i] for i in ids]
        joined = b"".join(pieces)
        assert joined == text.encode(), (text, joined)
        cases.append({"text": text, "ids": ids, "token_bytes_hex": [p.hex() for p in pieces]})
    path.write_text(json.dumps({"cases": cases}, indent=1, ensure_ascii=False) + "\n")


def generation_references(
    model_path: Path, tokenizer_path: Path, prompts: list[str], max_new_tokens: int, out_dir: Path, config: dict
) -> list[dict]:
    """For each prompt: its ids, onnxruntime's greedy tokens from the canister's decode loop,
    the completion's bytes and hashes, the top-2 margins, and each step's logits (.npy)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    table = token_bytes(tokenizer)
    sess = session(model_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for number, prompt in enumerate(prompts):
        prompt_ids = tokenizer.encode(prompt).ids
        tokens, margins, logits = greedy_decode(
            sess, config["layers"], config["kv_heads"], config["head_dim"], prompt_ids, max_new_tokens
        )
        completion = b"".join(table[t] for t in tokens)
        logits_file = f"case{number}_logits.npy"
        np.save(out_dir / logits_file, logits)
        cases.append(
            {
                "prompt": prompt,
                "prompt_ids": prompt_ids,
                "max_new_tokens": max_new_tokens,
                "greedy_ids": tokens,
                "completion_hex": completion.hex(),
                "completion_text": completion.decode("utf-8", errors="replace"),
                "completion_sha256": sha256(completion),
                "top2_margins": margins,
                "min_margin": min(margins),
                "step_logits": logits_file,
            }
        )
    index = {
        "onnxruntime": ort.__version__,
        "model_sha256": sha256(model_path.read_bytes()),
        "tokenizer_sha256": sha256(tokenizer_path.read_bytes()),
        "decode_loop": "prefill: the whole prompt with an empty past; then one token per call, presents fed back as past; greedy = argmax of the last position's logits (first index on ties)",
        "cases": cases,
    }
    (out_dir / "generation.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    return cases
