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


class RecurrentOutput(nn.Module):
    """Runs an RNN, LSTM or GRU (batch_first) and keeps its output sequence or its last step."""

    def __init__(self, rnn, return_sequences=True):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences

    def forward(self, x):
        out, _ = self.rnn(x)  # (N, L, H * directions)
        return out if self.return_sequences else out[:, -1]


class SelfAttention(nn.Module):
    """Multi-head self-attention: query = key = value = x, (N, L, E) -> (N, L, E)."""

    def __init__(self, attn):
        super().__init__()
        self.attn = attn

    def forward(self, x):
        out, _ = self.attn(x, x, x, need_weights=False)
        return out


class Residual(nn.Module):
    """body(x) + shortcut(x); the shortcut is the identity unless a projection is given."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Parallel(nn.Module):
    """Feeds x to every branch and merges the results: concatenated along `dim`, or added."""

    def __init__(self, branches, merge="concat", dim=1):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.merge = merge
        self.dim = dim

    def forward(self, x):
        outs = [branch(x) for branch in self.branches]
        if self.merge == "add":
            return torch.stack(outs).sum(dim=0)
        return torch.cat(outs, dim=self.dim)
