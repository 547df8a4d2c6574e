"""A LLaMA decoder (RMSNorm, rotary positions, grouped-query attention, SwiGLU) in plain torch,
with the same ONNX interface as models/gpt.py: `input_ids` and `past_key_values.{i}.key/.value`
in, `logits` and `present.{i}.key/.value` out, each present one Concat of its past and the new
keys on axis 2, lengths symbolic, an empty past for the prefill. The cache holds the keys
after the rotation, for the `kv_heads` key/value heads only ([batch, kv_heads, past,
head_dim]); each group of `heads / kv_heads` query heads attends to one of them through a
broadcasting MatMul (no Expand of the cache). The rotation's cos/sin are Slices of constant
tables at [past, past + sequence), as gpt.py's positions are.

Weights load from transformers' LlamaForCausalLM (`from_llama_state_dict`); its rotary
convention (rotate_half over the two halves of each head) is the one used here."""

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, kv_heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, width // heads
        self.input_layernorm = RMSNorm(width, eps)
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(width, width, bias=False)
        self.post_attention_layernorm = RMSNorm(width, eps)
        self.gate_proj = nn.Linear(width, hidden, bias=False)
        self.up_proj = nn.Linear(width, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, width, bias=False)

    def forward(self, x, past_key, past_value, cos, sin, mask):
        batch, sequence = x.shape[0], x.shape[1]
        group, d = self.heads // self.kv_heads, self.head_dim
        h = self.input_layernorm(x)
        q = self.q_proj(h).reshape(batch, sequence, self.heads, d).transpose(1, 2)
        k = self.k_proj(h).reshape(batch, sequence, self.kv_heads, d).transpose(1, 2)
        v = self.v_proj(h).reshape(batch, sequence, self.kv_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        key = torch.cat([past_key, k], dim=2)
        value = torch.cat([past_value, v], dim=2)
        # Query heads grouped by the key/value head they share: [batch, kv, group, seq, d].
        q = q.reshape(batch, self.kv_heads, group, sequence, d)
        scores = (q @ key.unsqueeze(2).transpose(3, 4)) * (d**-0.5)
        scores = scores.masked_fill(~mask, torch.finfo(torch.float32).min)
        attended = torch.softmax(scores, dim=-1) @ value.unsqueeze(2)
        attended = (
            attended.reshape(batch, self.heads, sequence, d).transpose(1, 2).reshape(batch, sequence, self.heads * d)
        )
        x = x + self.o_proj(attended)
        h = self.post_attention_layernorm(x)
        x = x + self.down_proj(nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))
        return x, key, value


class Llama(nn.Module):
    def __init__(self, vocab, context, width, layers, heads, kv_heads, hidden, eps, rope_theta) -> None:
        super().__init__()
        head_dim = width // heads
        self.config = {
            "vocab": vocab,
            "context": context,
            "width": width,
            "layers": layers,
            "heads": heads,
            "kv_heads": kv_heads,
            "head_dim": head_dim,
            "hidden": hidden,
            "rope_theta": rope_theta,
        }
        self.embed_tokens = nn.Embedding(vocab, width)
        self.blocks = nn.ModuleList(Block(width, heads, kv_heads, hidden, eps) for _ in range(layers))
        self.norm = RMSNorm(width, eps)
        inverse = 1.0 / (rope_theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        angles = torch.outer(torch.arange(context, dtype=torch.float64), inverse)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos_table", angles.cos().float(), persistent=False)
        self.register_buffer("sin_table", angles.sin().float(), persistent=False)
        self.register_buffer("causal", torch.tril(torch.ones(context, context, dtype=torch.bool)), persistent=False)

    def forward(self, input_ids, *past):
        past_length = past[0].shape[2]
        end = past_length + input_ids.shape[1]
        cos, sin = self.cos_table[past_length:end], self.sin_table[past_length:end]
        mask = self.causal[past_length:end, :end]
        x = self.embed_tokens(input_ids)
        presents = []
        for number, block in enumerate(self.blocks):
            x, key, value = block(x, past[2 * number], past[2 * number + 1], cos, sin, mask)
            presents += [key, value]
        logits = self.norm(x) @ self.embed_tokens.weight.t()
        return (logits, *presents)


def from_llama_state_dict(state: dict, config, context: int) -> Llama:
    """Our module with the weights of a transformers LlamaForCausalLM with tied embeddings."""
    model = Llama(
        config.vocab_size,
        context,
        config.hidden_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.intermediate_size,
        config.rms_norm_eps,
        float(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"]),
    )
    ours = {"embed_tokens.weight": state["model.embed_tokens.weight"], "norm.weight": state["model.norm.weight"]}
    if "lm_head.weight" in state:
        assert torch.equal(state["lm_head.weight"], state["model.embed_tokens.weight"]), "untied output projection"
    names = ["input_layernorm", "post_attention_layernorm"]
    names += [f"self_attn.{n}" for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
    names += [f"mlp.{n}" for n in ("gate_proj", "up_proj", "down_proj")]
    for number in range(config.num_hidden_layers):
        for name in names:
            ours[f"blocks.{number}.{name.split('.')[-1]}.weight"] = state[f"model.layers.{number}.{name}.weight"]
    model.load_state_dict(ours)
    return model.eval()
