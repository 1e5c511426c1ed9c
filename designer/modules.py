"""The modules that torch.nn lacks: designer layers, tuple-output wrappers and the blocks.

Exported model.py files carry the source of the classes they use, copied from here, so the
live model and the exported code are the same classes. Keep each class self-contained: it may
use only `math`, `torch` and `nn`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Permute(nn.Module):
    """Reorders the dimensions of the whole tensor, batch included (dims[0] is 0)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(*self.dims)


class Reshape(nn.Module):
    """Reshapes each sample to `shape` (batch excluded); one entry may be -1."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class SequencePool(nn.Module):
    """Pools a sequence (N, L, E) to (N, E): mean, max, first or last step."""

    def __init__(self, mode="mean"):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        if self.mode == "mean":
            return x.mean(dim=1)
        if self.mode == "max":
            return x.amax(dim=1)
        if self.mode == "first":
            return x[:, 0]
        return x[:, -1]


class PositionalEncoding(nn.Module):
    """Adds position information to (N, L, E): fixed sinusoids or a learned table."""

    def __init__(self, embed_dim, kind="sinusoidal", max_len=5000, dropout=0.0):
        super().__init__()
        self.kind = kind
        self.dropout = nn.Dropout(dropout)
        if kind == "learned":
            self.table = nn.Parameter(torch.zeros(max_len, embed_dim))
            nn.init.normal_(self.table, std=0.02)
        else:
            position = torch.arange(max_len).unsqueeze(1)
            freq = torch.exp(
                torch.arange(0, embed_dim, 2) * (-math.log(10000.0) / embed_dim)
            )
            table = torch.zeros(max_len, embed_dim)
            table[:, 0::2] = torch.sin(position * freq)
            table[:, 1::2] = torch.cos(position * freq[: embed_dim // 2])
            self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        return self.dropout(x + self.table[: x.shape[1]])


class ClassToken(nn.Module):
    """Prepends one learned token to a sequence: (N, L, E) -> (N, L + 1, E), as in ViT."""

    def __init__(self, embed_dim):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.normal_(self.token, std=0.02)

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class Attention(nn.Module):
    """Self-attention with q, k, v, o projections: causal, rotary and grouped-query (Llama-style).

    (N, L, E) -> (N, L, E). Query head i reads key/value head i // (num_heads / num_kv_heads).
    Rotary rotates each head's q and k by pos * 10000^(-2j/d), pairing j with j + d/2 (rotate-half).
    """

    def __init__(
        self,
        embed_dim,
        num_heads,
        num_kv_heads=None,
        causal=False,
        rotary=False,
        bias=False,
        dropout=0.0,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads or num_heads
        self.head_dim = embed_dim // num_heads
        self.causal, self.rotary, self.dropout = causal, rotary, dropout
        kv_dim = self.head_dim * self.num_kv_heads
        self.q = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.v = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.o = nn.Linear(embed_dim, embed_dim, bias=bias)

    def rotate(self, t):  # (N, heads, L, d)
        half = self.head_dim // 2
        j = torch.arange(half, device=t.device, dtype=torch.float32)
        freq = torch.pow(10000.0, -2 * j / self.head_dim)
        angle = (
            torch.arange(t.shape[2], device=t.device, dtype=torch.float32)[:, None]
            * freq
        )  # (L, d/2)
        cos, sin = angle.cos().to(t.dtype), angle.sin().to(t.dtype)
        a, b = t[..., :half], t[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    def forward(self, x):
        n, length, _ = x.shape
        q = (
            self.q(x).view(n, length, self.num_heads, self.head_dim).transpose(1, 2)
        )  # (N, h, L, d)
        k = (
            self.k(x).view(n, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        )  # (N, kv, L, d)
        v = self.v(x).view(n, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        if self.rotary:
            q, k = self.rotate(q), self.rotate(k)
        groups = self.num_heads // self.num_kv_heads
        if groups > 1:
            k, v = (
                k.repeat_interleave(groups, dim=1),
                v.repeat_interleave(groups, dim=1),
            )
        out = nn.functional.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal,
        )
        return self.o(out.transpose(1, 2).reshape(n, length, -1))


class RecurrentOutput(nn.Module):
    """Runs an RNN, LSTM or GRU (batch_first) and keeps its output sequence or its final state.

    The final state of a bidirectional layer is the forward direction at the last step and the
    backward direction at the first step (h_n of the last layer), concatenated."""

    def __init__(self, rnn, return_sequences=True):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences

    def forward(self, x):
        out, _ = self.rnn(x)  # (N, L, H * directions)
        if self.return_sequences:
            return out
        if not self.rnn.bidirectional:
            return out[:, -1]
        h = self.rnn.hidden_size
        return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)  # (N, 2H)


class SelfAttention(nn.Module):
    """Multi-head self-attention: query = key = value = x, (N, L, E) -> (N, L, E); causal: i sees <= i."""

    def __init__(self, attn, causal=False):
        super().__init__()
        self.attn = attn
        self.causal = causal

    def forward(self, x):
        if not self.causal:
            return self.attn(x, x, x, need_weights=False)[0]
        length = x.shape[1]
        mask = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(
            1
        )  # True: not seen
        return self.attn(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)[0]


class EncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer with a causal mask (position i attends to <= i) and the tanh GELU."""

    def __init__(
        self,
        d_model,
        nhead,
        dim_feedforward=2048,
        dropout=0.1,
        activation="relu",
        layer_norm_eps=1e-5,
        batch_first=False,
        norm_first=False,
        bias=True,
        causal=False,
    ):
        if activation == "gelu_tanh":
            activation = nn.GELU(approximate="tanh")
        super().__init__(
            d_model,
            nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=batch_first,
            norm_first=norm_first,
            bias=bias,
        )
        self.causal = causal
        if isinstance(activation, nn.GELU):
            self.activation_relu_or_gelu = (
                0  # torch's fused fast path would use the exact GELU
            )

    def forward(self, x):
        if not self.causal:
            return super().forward(x)
        length = x.shape[1]
        mask = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(
            1
        )  # True: not seen
        return super().forward(x, src_mask=mask, is_causal=True)


class Residual(nn.Module):
    """body(x) + shortcut(x); the shortcut is the identity unless a projection is given."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Parallel(nn.Module):
    """Feeds x to every branch and merges the results: concatenated along `dim`, added, or multiplied
    (elementwise, with broadcasting: gating)."""

    def __init__(self, branches, merge="concat", dim=1):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.merge = merge
        self.dim = dim

    def forward(self, x):
        outs = [branch(x) for branch in self.branches]
        if self.merge == "add":
            return torch.stack(outs).sum(dim=0)
        if self.merge == "mul":
            out = outs[0]
            for other in outs[1:]:
                out = out * other
            return out
        return torch.cat(outs, dim=self.dim)
