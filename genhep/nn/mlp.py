"""Multi-layer perceptrons."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def mlp(
    in_dim: int, out_dim: int, hidden: Sequence[int], activation: str = "silu"
) -> nn.Sequential:
    """Linear layers ``in_dim -> hidden... -> out_dim`` with ``activation`` between them."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{activation}', choose from {sorted(ACTIVATIONS)}")
    sizes = [in_dim, *hidden, out_dim]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def leaky_stack(
    sizes: Sequence[int], slope: float = 0.2, dropout: float = 0.0, final_activation: bool = True
) -> nn.Sequential:
    """Linear layers over ``sizes``, LeakyReLU(``slope``) after each (after the last only if
    ``final_activation``) and dropout after each when ``dropout`` > 0, the last included (the
    MPGAN authors' ``LinearNet``: rkansal47/MPGAN ``mpgan/model.py``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(slope))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
