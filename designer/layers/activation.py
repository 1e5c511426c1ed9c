"""Activations: element-wise non-linearities, PReLU and GLU, and Softmax / LogSoftmax."""

from __future__ import annotations

from designer.layers._rules import sample_dim_issue, tensor_dim
from designer.params import MAX_SIZE, P
from designer.registry import LayerSpec, register


def _plain(type_name: str, help_text: str) -> LayerSpec:
    return LayerSpec(type=type_name, family="activation", help=help_text)


for _spec in (  # in palette order: the common ones first
    _plain("ReLU", "max(0, x)."),
    LayerSpec(type="GELU", family="activation", help="Gaussian error linear unit, as in transformers.",
              params=(P("approximate", "choice", "none", "Exact (none), or the tanh approximation of GPT-2 and BERT.",
                        choices=("none", "tanh"), key=True),)),
    _plain("SiLU", "x · sigmoid(x) (swish)."),
    _plain("Tanh", "Hyperbolic tangent."),
    _plain("Sigmoid", "1 / (1 + exp(-x))."),
    _plain("ReLU6", "min(max(0, x), 6), as in MobileNetV2."),
    _plain("Mish", "x · tanh(softplus(x))."),
    _plain("Hardswish", "A cheap swish, as in MobileNetV3."),
    _plain("Hardsigmoid", "A cheap sigmoid (piecewise linear), as in MobileNetV3."),
):
    register(_spec)

register(LayerSpec(
    type="LeakyReLU", family="activation", help="ReLU with a small slope for negative inputs.",
    params=(P("negative_slope", "float", 0.01, "Slope for x < 0.", min=0.0, max=1.0, key=True),),
))
register(LayerSpec(
    type="ELU", family="activation", help="Exponential linear unit.",
    params=(P("alpha", "float", 1.0, "Scale of the negative part.", min=0.0, max=100.0),),
))


def _hardtanh_check(shape, v):
    if v["min_val"] >= v["max_val"]:
        return [(f"min_val {v['min_val']:g} must be below max_val {v['max_val']:g}",
                 "lower min_val or raise max_val (-1 and 1 by default)", None)]
    return []


register(LayerSpec(
    type="Hardtanh", family="activation", help="Clips x to [min_val, max_val].",
    params=(P("min_val", "float", -1.0, "Lower bound of the output.", min=-1e6, max=1e6, key=True),
            P("max_val", "float", 1.0, "Upper bound of the output.", min=-1e6, max=1e6, key=True)),
    check=_hardtanh_check,
))


def _prelu_check(shape, v):
    n, channels = v["num_parameters"], shape[0]
    if n != 1 and n != channels:
        return [(f"num_parameters={n} must be 1 (one slope) or the {channels} channels it receives "
                 f"(the first sample dimension)",
                 f"set num_parameters to 1 or {channels}", None)]
    return []


register(LayerSpec(
    type="PReLU", family="activation", help="Leaky ReLU whose negative slope is learned (one, or one per channel).",
    params=(P("num_parameters", "int", 1, "Learned slopes: 1, or one per channel (the first sample dimension).",
              min=1, max=MAX_SIZE, key=True),
            P("init", "float", 0.25, "Initial slope.", min=-100.0, max=100.0)),
    check=_prelu_check,
))
register(LayerSpec(
    type="Softplus", family="activation", help="log(1 + exp(beta · x)) / beta: a smooth ReLU.",
    params=(P("beta", "float", 1.0, "Sharpness: larger is closer to ReLU.", min=0.001, max=1000.0, key=True),
            P("threshold", "float", 20.0, "Above beta · x > threshold the output is x (for stability).",
              min=0.0, max=1000.0)),
))


def _glu_check(shape, v):
    problems = sample_dim_issue(shape, v["dim"])
    if problems:
        return problems
    size = shape[tensor_dim(shape, v["dim"]) - 1]
    if size % 2:
        return [(f"the size along dim {v['dim']} is {size}, which is odd: GLU splits it into two halves",
                 f"make that dimension even (e.g. {size + 1}) with the layer before, "
                 "or choose another dim", None)]
    return []


register(LayerSpec(
    type="GLU", family="activation",
    help="Gated linear unit: splits dim into halves a, b and gives a · sigmoid(b) (halves that dim).",
    params=(P("dim", "int", -1, "Dimension of the whole tensor to split (batch is 0); -1 is the last.",
              min=-8, max=8, key=True),),
    check=_glu_check,
))

_DIM_HELP = "Dimension of the whole tensor (batch is 0); -1 is the last."
for _type, _help in (
    ("Softmax", "Turns scores along `dim` into probabilities (not needed before cross-entropy)."),
    ("LogSoftmax", "The log of Softmax along `dim` (pair it with NLLLoss; not needed before cross-entropy)."),
):
    register(LayerSpec(
        type=_type, family="activation", help=_help,
        # -1 by default, never PyTorch's implicit choice; a null that older designs wrote also means -1.
        params=(P("dim", "int", -1, _DIM_HELP, min=-8, max=8, null_is_default=True, key=True),),
        check=lambda shape, v: sample_dim_issue(shape, v["dim"]),
    ))
