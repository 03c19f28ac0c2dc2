"""The WGAN-GP gradient penalty (Gulrajani et al. 1704.00028)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, target_norm: float = 1.0
) -> Tensor:
    """``E[(‖∇ D(x̂)‖₂ − target_norm)²]`` at ``x̂ = ε x_real + (1 − ε) x_fake``, ε ~ U(0, 1) per
    event.

    Args:
        critic: maps events ``(B, ...)`` to scores ``(B,)`` or ``(B, 1)`` (close over masks or
            conditions: ``lambda x: critic(x, mask)``).
        real, fake: events of the same shape ``(B, ...)``; ``fake`` may be detached.
        target_norm: the gradient norm the penalty pulls towards (1 in WGAN-GP).

    Returns:
        The scalar penalty (multiply by the weight, 10 in WGAN-GP), differentiable in the
        critic's parameters (``create_graph=True``).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    epsilon = torch.rand(len(real), *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    mixed = (epsilon * real.detach() + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (gradients,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = gradients.reshape(len(real), -1).norm(dim=1)
    return ((norms - target_norm) ** 2).mean()
