"""Recurrent layers: RNN, LSTM, GRU over (L, F) sequences, yielding the sequence or its final state."""

from __future__ import annotations

from designer.params import P
from designer.registry import LayerSpec, register


def _params(extra: tuple = ()) -> tuple:
    return (
        P("hidden_size", "int", 64, "Size of the hidden state.", min=1, max=1 << 16, required=True, key=True),
        P("num_layers", "int", 1, "Recurrent layers stacked.", min=1, max=64, key=True),
        *extra,
        P("bias", "bool", True, "Use bias weights."),
        P("dropout", "float", 0.0, "Dropout between stacked layers (needs num_layers > 1).", min=0.0, max=1.0),
        P("bidirectional", "bool", False, "Also read the sequence backwards (doubles the output size).", key=True),
        P("return_sequences", "bool", True, "Yield every step (N, L, H) or the final state (N, H); bidirectional: "
          "forward at the last step, backward at the first.", key=True),
    )


def _label(v):
    parts = [str(v["hidden_size"])]
    if v["num_layers"] != 1:  # not `> 1`: labels are drawn for invalid values too
        parts.append(f"×{v['num_layers']}")
    if v["bidirectional"]:
        parts.append("bi")
    if not v["return_sequences"]:
        parts.append("last")
    return " · ".join(parts)


def _dropout_check(shape, v):
    if v["dropout"] > 0 and v["num_layers"] == 1:
        return [("dropout only acts between stacked layers, and num_layers is 1",
                 "set dropout to 0, or num_layers to 2 or more", {"op": "set", "key": "dropout", "value": 0.0})]
    return []


_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _formula(gates: int):
    """Output shape and the FLOPs torch's flop counter finds (2·in·out per matrix product, every step)."""

    def formula(shape, v):
        length, features = shape
        hidden, directions = v["hidden_size"], 2 if v["bidirectional"] else 1
        flops, width = 0, features
        for _ in range(v["num_layers"]):
            flops += directions * length * 2 * gates * hidden * (width + hidden)
            width = hidden * directions
        return ((length, width) if v["return_sequences"] else (width,)), flops

    return formula


for _type, _help, _extra in (
    ("RNN", "Elman recurrent layer.", (P("nonlinearity", "choice", "tanh", "Activation.", choices=("tanh", "relu")),)),
    ("LSTM", "Long short-term memory layer.", ()),
    ("GRU", "Gated recurrent unit layer.", ()),
):
    register(LayerSpec(
        type=_type, family="recurrent", help=_help + " Input (L, F).",
        params=_params(_extra),
        ranks=(2,), expects="a sequence (L, F)",
        infer=lambda shape: {"input_size": shape[-1]},
        fixed={"batch_first": True},
        wrapper="RecurrentOutput", wrapper_params=("return_sequences",),
        positional=("hidden_size",),
        check=_dropout_check,
        label_fn=_label,
        formula=_formula(_GATES[_type]),
    ))
