"""Well-known architectures written as designs, against hand-written PyTorch references.

Published parameter counts are checked with analysis alone (on `meta`, fast); small instances of the
same designs are built, the reference's weights copied in by parameter order (the contract's order), and
outputs compared.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from designer import analyze, build_model, new_design
from designer.codegen import generate_model_py

torch.set_num_threads(1)


def exported(design):
    namespace: dict = {"__name__": "exported_model"}
    exec(compile(generate_model_py(design), "model.py", "exec"), namespace)  # noqa: S102 - our own code
    return namespace["Model"]()


def copy_by_order(reference: nn.Module, model: nn.Module) -> None:
    ours, theirs = list(model.parameters()), list(reference.parameters())
    assert [tuple(p.shape) for p in ours] == [tuple(p.shape) for p in theirs]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(b)


def assert_same(design, reference: nn.Module, x: torch.Tensor, atol=1e-5):
    """Count, shape and outputs of the live model and of model.py equal the reference's."""
    analysis = analyze(design)
    assert analysis.valid, [str(e) for e in analysis.errors]
    count = sum(p.numel() for p in reference.parameters())
    assert analysis.params == count
    reference.eval()
    with torch.no_grad():
        want = reference(x)
    assert tuple(want.shape[1:]) == analysis.output_shape
    for model in (build_model(design), exported(design)):
        assert sum(p.numel() for p in model.parameters()) == count
        copy_by_order(reference, model)
        model.eval()
        with torch.no_grad():
            got = model(x)
        torch.testing.assert_close(got, want, atol=atol, rtol=1e-4)


class Table(nn.Module):
    """A learned tensor as its own module, so that it takes its place in parameters() where it is used."""

    def __init__(self, *shape, std=0.02):
        super().__init__()
        self.value = nn.Parameter(torch.randn(*shape) * std)


# --- GPT-2 ---------------------------------------------------------------------------------------------


def gpt2_design(vocab, length, width, heads, depth):
    return new_design("GPT-2", [length], "int64", layers=[
        {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": width},
        {"type": "PositionalEncoding", "kind": "learned", "max_len": length},
        {"type": "Repeat", "times": depth, "body": [
            {"type": "TransformerEncoderLayer", "nhead": heads, "dim_feedforward": 4 * width, "dropout": 0.0,
             "activation": "gelu_tanh", "norm_first": True, "causal": True}]},
        {"type": "LayerNorm"},
        {"type": "Linear", "out_features": vocab, "bias": False, "tie_weights": "layers[0]"},
    ])


class GPT2Block(nn.Module):
    """nanoGPT's block, its parameters declared in TransformerEncoderLayer's order."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv_weight = nn.Parameter(torch.randn(3 * width, width) * 0.05)
        self.qkv_bias = nn.Parameter(torch.randn(3 * width) * 0.05)
        self.proj = nn.Linear(width, width)
        self.fc = nn.Linear(width, 4 * width)
        self.fc_proj = nn.Linear(4 * width, width)
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)

    def forward(self, x):
        n, length, width = x.shape
        q, k, v = F.linear(self.ln1(x), self.qkv_weight, self.qkv_bias).split(width, dim=-1)
        q, k, v = (t.view(n, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, length, width)
        x = x + self.proj(y)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, vocab, length, width, heads, depth):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = Table(length, width)
        self.blocks = nn.Sequential(*(GPT2Block(width, heads) for _ in range(depth)))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx):
        return self.head(self.ln_f(self.blocks(self.wte(idx) + self.wpe.value[: idx.shape[1]])))


def test_gpt2_small_published_count():
    analysis = analyze(gpt2_design(50257, 1024, 768, 12, 12))
    assert analysis.valid and analysis.params == 124_439_808
    assert analysis.output_shape == (1024, 50257)


def test_gpt2_small_instance_equals_reference():
    torch.manual_seed(0)
    design = gpt2_design(30, 7, 16, 2, 2)
    assert_same(design, GPT2(30, 7, 16, 2, 2), torch.randint(0, 30, (3, 7)))


def test_tied_weight_is_one_parameter_owned_by_the_embedding():
    design = gpt2_design(30, 7, 16, 2, 1)
    for model in (build_model(design), exported(design)):
        embed = dict(model.named_parameters())
        first = next(iter(embed))
        assert first.endswith("weight") and embed[first].shape == (30, 16)
        linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 30]
        assert len(linears) == 1 and linears[0].weight is embed[first]
        state = model.state_dict()
        assert list(state)[0] == first
    # the app's weights load into model.py
    live, code = build_model(design), exported(design)
    code.load_state_dict(live.state_dict())
    x = torch.randint(0, 30, (2, 7))
    live.eval(), code.eval()
    with torch.no_grad():
        torch.testing.assert_close(code(x), live(x))


@pytest.mark.parametrize("tie, message", [
    ("layers[9]", "not an Embedding earlier"),
    ("layers[2]", "not an Embedding earlier"),
    ("nonsense!", "not a path"),
])
def test_tie_weights_bad_path(tie, message):
    design = gpt2_design(30, 7, 16, 2, 1)
    design["layers"][-1]["tie_weights"] = tie
    analysis = analyze(design)
    assert not analysis.valid
    [error] = analysis.errors
    assert error.path == "layers[4].tie_weights" and message in error.message and "layers[0]" in error.fix


def test_tie_weights_size_mismatch_and_repeat():
    design = gpt2_design(30, 7, 16, 2, 1)
    design["layers"][-1]["out_features"] = 31
    [error] = analyze(design).errors
    assert "num_embeddings 30" in error.message and error.action["value"] == 30
    inside = new_design(shape=[5], dtype="int64", layers=[
        {"type": "Repeat", "times": 2, "body": [{"type": "Embedding", "num_embeddings": 9, "embedding_dim": 4},
                                                {"type": "Linear", "out_features": 9, "tie_weights": "layers[0].body[0]"},
                                                {"type": "SequencePool"}, {"type": "Reshape", "shape": [9]},
                                                ]}])
    errors = analyze(inside).errors
    assert errors
    width = new_design(shape=[5], dtype="int64", layers=[
        {"type": "Embedding", "num_embeddings": 9, "embedding_dim": 4},
        {"type": "Linear", "out_features": 3},
        {"type": "Linear", "out_features": 9, "tie_weights": "layers[0]"}])
    [error] = analyze(width).errors
    assert "must receive 4 features" in error.message


def test_tie_inside_a_repeat_body_is_refused():
    design = new_design(shape=[5], dtype="int64", layers=[
        {"type": "Repeat", "times": 1, "body": [{"type": "Embedding", "num_embeddings": 9, "embedding_dim": 4}]},
        {"type": "Linear", "out_features": 9, "tie_weights": "layers[0].body[0]"}])
    [error] = analyze(design).errors
    assert "inside a Repeat" in error.message


def test_causal_attention_does_not_see_the_future():
    for layer in ({"type": "MultiheadAttention", "num_heads": 2, "causal": True},
                  {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 8, "dropout": 0.0, "causal": True},
                  {"type": "Attention", "num_heads": 4, "num_kv_heads": 2, "causal": True, "rotary": True}):
        design = new_design(shape=[6, 8], layers=[layer])
        for model in (build_model(design).eval(), exported(design).eval()):
            x = torch.randn(2, 6, 8)
            x2 = x.clone()
            x2[:, 4:] = torch.randn(2, 2, 8)
            with torch.no_grad():
                y, y2 = model(x), model(x2)
            torch.testing.assert_close(y[:, :4], y2[:, :4])
            assert not torch.allclose(y[:, 4:], y2[:, 4:])


# --- ViT -----------------------------------------------------------------------------------------------


def vit_design(size, patch, width, heads, depth, classes, channels=3, eps=1e-6):
    tokens = (size // patch) ** 2
    return new_design("ViT", [channels, size, size], layers=[
        {"type": "Conv2d", "out_channels": width, "kernel_size": patch, "stride": patch},
        {"type": "Flatten", "start_dim": 2},
        {"type": "Permute", "dims": [0, 2, 1]},
        {"type": "ClassToken"},
        {"type": "PositionalEncoding", "kind": "learned", "max_len": tokens + 1},
        {"type": "Repeat", "times": depth, "body": [
            {"type": "TransformerEncoderLayer", "nhead": heads, "dim_feedforward": 4 * width, "dropout": 0.0,
             "activation": "gelu", "norm_first": True, "layer_norm_eps": eps}]},
        {"type": "LayerNorm", "eps": eps},
        {"type": "SequencePool", "mode": "first"},
        {"type": "Linear", "out_features": classes},
    ])


class ViT(nn.Module):
    def __init__(self, size, patch, width, heads, depth, classes, channels=3):
        super().__init__()
        self.patch = nn.Conv2d(channels, width, patch, stride=patch)
        self.cls = Table(1, 1, width)
        self.pos = Table((size // patch) ** 2 + 1, width)
        self.blocks = nn.Sequential(*(nn.TransformerEncoderLayer(
            width, heads, 4 * width, 0.0, "gelu", 1e-6, batch_first=True, norm_first=True) for _ in range(depth)))
        self.ln = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.value.expand(x.shape[0], -1, -1), x], dim=1) + self.pos.value
        return self.head(self.ln(self.blocks(x))[:, 0])


def test_vit_b16_published_count():
    analysis = analyze(vit_design(224, 16, 768, 12, 12, 1000))
    assert analysis.valid and analysis.params == 86_567_656 and analysis.output_shape == (1000,)


def test_small_vit_equals_reference():
    torch.manual_seed(0)
    assert_same(vit_design(8, 4, 16, 2, 2, 5), ViT(8, 4, 16, 2, 2, 5), torch.randn(2, 3, 8, 8))


# --- MobileNetV2 and EfficientNet-B0 (counts from torchvision's published tables) -----------------------


def conv_bn(out, k=3, stride=1, groups=1, act="ReLU6"):
    layers = [{"type": "Conv2d", "out_channels": out, "kernel_size": k, "stride": stride, "padding": (k - 1) // 2,
               "groups": groups, "bias": False}, {"type": "BatchNorm2d"}]
    return layers + ([{"type": act}] if act else [])


def mobilenet_v2_design(classes=1000, size=224, width=1.0):
    def c(n):
        return max(8, int(n * width + 4) // 8 * 8)
    layers = conv_bn(c(32), stride=2)
    cin = c(32)
    for t, ch, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                        (6, 320, 1, 1)):
        for i in range(n):
            stride, hidden, cout = s if i == 0 else 1, cin * t, c(ch)
            body = (conv_bn(hidden, 1) if t != 1 else []) + conv_bn(hidden, 3, stride, hidden) + conv_bn(cout, 1, act=None)
            layers.append({"type": "Residual", "body": body} if stride == 1 and cin == cout
                          else {"type": "Sequential", "layers": body})
            cin = cout
    layers += conv_bn(1280, 1) + [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"},
                                  {"type": "Dropout", "p": 0.2}, {"type": "Linear", "out_features": classes}]
    return new_design("MobileNetV2", [3, size, size], layers=layers)


def efficientnet_b0_design(classes=1000, size=224):
    layers = conv_bn(32, stride=2, act="SiLU")
    for t, k, s, cin, cout, n in ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                                  (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)):
        for i in range(n):
            c_in, stride = cin if i == 0 else cout, s if i == 0 else 1
            hidden, squeeze = c_in * t, max(1, c_in // 4)
            se = {"type": "Parallel", "merge": "mul", "branches": [[], [
                {"type": "AdaptiveAvgPool2d", "output_size": 1},
                {"type": "Conv2d", "out_channels": squeeze, "kernel_size": 1}, {"type": "SiLU"},
                {"type": "Conv2d", "out_channels": hidden, "kernel_size": 1}, {"type": "Sigmoid"}]]}
            body = ((conv_bn(hidden, 1, act="SiLU") if t != 1 else []) + conv_bn(hidden, k, stride, hidden, act="SiLU")
                    + [se] + conv_bn(cout, 1, act=None))
            layers.append({"type": "Residual", "body": body} if stride == 1 and c_in == cout
                          else {"type": "Sequential", "layers": body})
    layers += conv_bn(1280, 1, act="SiLU") + [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"},
                                              {"type": "Dropout", "p": 0.2}, {"type": "Linear", "out_features": classes}]
    return new_design("EfficientNet-B0", [3, size, size], layers=layers)


def test_mobilenet_v2_published_count():
    analysis = analyze(mobilenet_v2_design())
    assert analysis.valid and analysis.params == 3_504_872 and analysis.output_shape == (1000,)


def test_efficientnet_b0_published_count():
    analysis = analyze(efficientnet_b0_design())
    assert analysis.valid and analysis.params == 5_288_548 and analysis.output_shape == (1000,)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(F.adaptive_avg_pool2d(x, 1)))))


def test_mbconv_with_squeeze_excite_equals_reference():
    torch.manual_seed(0)
    design = new_design(shape=[8, 6, 6], layers=[{"type": "Residual", "body": [
        *conv_bn(32, 1, act="SiLU"), *conv_bn(32, 3, 1, 32, act="SiLU"),
        {"type": "Parallel", "merge": "mul", "branches": [[], [
            {"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Conv2d", "out_channels": 2, "kernel_size": 1},
            {"type": "SiLU"}, {"type": "Conv2d", "out_channels": 32, "kernel_size": 1}, {"type": "Sigmoid"}]]},
        *conv_bn(8, 1, act=None)]}])

    class MBConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.expand, self.bn1 = nn.Conv2d(8, 32, 1, bias=False), nn.BatchNorm2d(32)
            self.dw, self.bn2 = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), nn.BatchNorm2d(32)
            self.se = SqueezeExcite(32, 2)
            self.project, self.bn3 = nn.Conv2d(32, 8, 1, bias=False), nn.BatchNorm2d(8)

        def forward(self, x):
            y = F.silu(self.bn2(self.dw(F.silu(self.bn1(self.expand(x))))))
            return x + self.bn3(self.project(self.se(y)))

    assert_same(design, MBConv(), torch.randn(2, 8, 6, 6))


def test_small_mobilenet_v2_runs_at_cifar_size():
    design = mobilenet_v2_design(classes=10, size=32, width=0.25)
    a = analyze(design)
    assert a.valid and a.output_shape == (10,)
    assert tuple(build_model(design).eval()(torch.randn(2, 3, 32, 32)).shape) == (2, 10)


# --- Llama-style decoder ----------------------------------------------------------------------------------


def llama_design(vocab, length, width, heads, kv, ff, depth):
    return new_design("Llama", [length], "int64", layers=[
        {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": width},
        {"type": "Repeat", "times": depth, "body": [
            {"type": "Residual", "body": [
                {"type": "RMSNorm", "eps": 1e-5},
                {"type": "Attention", "num_heads": heads, "num_kv_heads": kv, "causal": True, "rotary": True}]},
            {"type": "Residual", "body": [
                {"type": "RMSNorm", "eps": 1e-5},
                {"type": "Parallel", "merge": "mul", "branches": [
                    [{"type": "Linear", "out_features": ff, "bias": False}, {"type": "SiLU"}],
                    [{"type": "Linear", "out_features": ff, "bias": False}]]},
                {"type": "Linear", "out_features": width, "bias": False}]}]},
        {"type": "RMSNorm", "eps": 1e-5},
        {"type": "Linear", "out_features": vocab, "bias": False},
    ])


def rope(t):  # (N, h, L, d), rotate-half as in Llama / GPT-NeoX
    d = t.shape[-1]
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
    angle = torch.outer(torch.arange(t.shape[2]).float(), inv)
    cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)
    rotated = torch.cat([-t[..., d // 2:], t[..., : d // 2]], dim=-1)
    return t * cos + rotated * sin


class LlamaBlock(nn.Module):
    def __init__(self, width, heads, kv, ff):
        super().__init__()
        self.heads, self.kv = heads, kv
        d = width // heads
        self.norm1 = nn.RMSNorm(width, eps=1e-5)
        self.wq, self.wk = nn.Linear(width, width, bias=False), nn.Linear(width, kv * d, bias=False)
        self.wv, self.wo = nn.Linear(width, kv * d, bias=False), nn.Linear(width, width, bias=False)
        self.norm2 = nn.RMSNorm(width, eps=1e-5)
        self.w1, self.w3 = nn.Linear(width, ff, bias=False), nn.Linear(width, ff, bias=False)
        self.w2 = nn.Linear(ff, width, bias=False)

    def forward(self, x):
        n, length, width = x.shape
        h = self.norm1(x)
        q = self.wq(h).view(n, length, self.heads, -1).transpose(1, 2)
        k = self.wk(h).view(n, length, self.kv, -1).transpose(1, 2)
        v = self.wv(h).view(n, length, self.kv, -1).transpose(1, 2)
        q, k = rope(q), rope(k)
        scores = q @ k.repeat_interleave(self.heads // self.kv, 1).transpose(-1, -2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1), float("-inf"))
        y = scores.softmax(-1) @ v.repeat_interleave(self.heads // self.kv, 1)
        x = x + self.wo(y.transpose(1, 2).reshape(n, length, width))
        h = self.norm2(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Llama(nn.Module):
    def __init__(self, vocab, width, heads, kv, ff, depth):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.layers = nn.Sequential(*(LlamaBlock(width, heads, kv, ff) for _ in range(depth)))
        self.norm, self.head = nn.RMSNorm(width, eps=1e-5), nn.Linear(width, vocab, bias=False)

    def forward(self, idx):
        return self.head(self.norm(self.layers(self.embed(idx))))


def test_llama_style_decoder_equals_reference():
    torch.manual_seed(0)
    design = llama_design(40, 9, 32, 4, 2, 48, 2)
    assert_same(design, Llama(40, 32, 4, 2, 48, 2), torch.randint(0, 40, (2, 9)))


def test_llama_7b_shape_count_by_formula():
    width, ff, depth, vocab, kv, heads = 4096, 11008, 32, 32000, 32, 32
    per_block = 4 * width * width + 3 * width * ff + 2 * width
    analysis = analyze(llama_design(vocab, 16, width, heads, kv, ff, depth))
    assert analysis.valid and analysis.params == 2 * vocab * width + depth * per_block + width == 6_738_415_616


# --- gated WaveNet -----------------------------------------------------------------------------------------


def wavenet_design(channels, length, kernel, dilations, classes):
    blocks = [{"type": "Residual", "body": [
        {"type": "ConstantPad1d", "padding": [d * (kernel - 1), 0], "value": 0.0},
        {"type": "Parallel", "merge": "mul", "branches": [
            [{"type": "Conv1d", "out_channels": channels, "kernel_size": kernel, "dilation": d}, {"type": "Tanh"}],
            [{"type": "Conv1d", "out_channels": channels, "kernel_size": kernel, "dilation": d}, {"type": "Sigmoid"}]]},
        {"type": "Conv1d", "out_channels": channels, "kernel_size": 1}]} for d in dilations]
    return new_design("WaveNet", [1, length], layers=[
        {"type": "Conv1d", "out_channels": channels, "kernel_size": 1}, *blocks,
        {"type": "ReLU"}, {"type": "AdaptiveAvgPool1d", "output_size": 1}, {"type": "Flatten"},
        {"type": "Linear", "out_features": classes}])


class WaveNet(nn.Module):
    def __init__(self, channels, kernel, dilations, classes):
        super().__init__()
        self.kernel, self.dilations = kernel, dilations
        self.inp = nn.Conv1d(1, channels, 1)
        self.filters, self.gates, self.outs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.blocks = nn.ModuleList(nn.ModuleList([nn.Conv1d(channels, channels, kernel, dilation=d),
                                                   nn.Conv1d(channels, channels, kernel, dilation=d),
                                                   nn.Conv1d(channels, channels, 1)]) for d in dilations)
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.inp(x)
        for (f, g, o), d in zip(self.blocks, self.dilations):
            padded = F.pad(x, (d * (self.kernel - 1), 0))
            x = x + o(torch.tanh(f(padded)) * torch.sigmoid(g(padded)))
        return self.head(F.relu(x).mean(-1))


def test_gated_wavenet_equals_reference_and_is_causal():
    torch.manual_seed(0)
    design = wavenet_design(6, 20, 2, [1, 2, 4], 3)
    assert_same(design, WaveNet(6, 2, [1, 2, 4], 3), torch.randn(2, 1, 20))
    # the stack before pooling is causal: a change at step 15 leaves steps 0..14 alone
    trunk = {**design, "layers": design["layers"][:4]}
    model = build_model(trunk).eval()
    x = torch.randn(1, 1, 20)
    x2 = x.clone()
    x2[..., 15:] += 1.0
    with torch.no_grad():
        torch.testing.assert_close(model(x)[..., :15], model(x2)[..., :15])


# --- bidirectional LSTM classifier ---------------------------------------------------------------------


class BiLSTMClassifier(nn.Module):
    def __init__(self, vocab, width, hidden, classes, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, hidden, layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, idx):
        _, (h, _) = self.lstm(self.embed(idx))
        return self.head(torch.cat([h[-2], h[-1]], dim=-1))


def test_bidirectional_lstm_classifier_reads_both_final_states():
    torch.manual_seed(0)
    design = new_design("BiLSTM", [11], "int64", layers=[
        {"type": "Embedding", "num_embeddings": 25, "embedding_dim": 6},
        {"type": "LSTM", "hidden_size": 5, "num_layers": 2, "bidirectional": True, "return_sequences": False},
        {"type": "Linear", "out_features": 4}])
    assert_same(design, BiLSTMClassifier(25, 6, 5, 4), torch.randint(0, 25, (3, 11)))
