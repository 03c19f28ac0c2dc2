"""Samplers: pure functions from noise to events along a :class:`~genhep.diffusion.paths.GaussianPath`.

Each sampler has the signature ``sampler(denoise, path, x, times, generator=None, **options)``:

- ``denoise(x, t)``: the network's :class:`~genhep.diffusion.paths.Estimate` (``x̂₀``, ``ε̂``)
  of the batch ``x`` at the times ``t`` ``(B,)`` (the model closes over its condition, masks
  and EMA weights);
- ``x``: the starting noise ``(B, ...)``, ``path.prior_std() · ε``;
- ``times``: the decreasing grid ``path.time_grid(steps)`` (``steps + 1`` values).

They return the events at ``times[-1]`` (the data end). Deterministic ones integrate the
probability-flow ODE ``dx/dt = α' x̂₀ + s' ε̂``: ``euler``, ``heun`` (EDM's second-order
method; no correction on the last step to ``t = 0``), ``midpoint`` and ``ode`` (torchdiffeq's
solvers, ``method=dopri5`` adaptive by default); ``ddim`` is Song et al.'s update (``eta = 0``
deterministic: equal to Euler where α and s are linear in t, flow matching and EDM, not on VP's
cosine path; ``eta = 1`` DDPM's ancestral noise, VP only);
``euler_maruyama`` integrates the reverse-time SDE with the score ``−ε̂ / s``.
Masked clouds: a ``mask`` keeps padded particles at exactly zero after every step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genhep.diffusion.paths import Estimate, GaussianPath, VariancePreserving, expand_like

Denoise = Callable[[Tensor, Tensor], Estimate]
#: torchdiffeq's adaptive-step methods (the others step on the given times)
ADAPTIVE = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


def _masked(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)


def _full(t: Tensor, x: Tensor) -> Tensor:
    return t.expand(len(x)).to(x.dtype)


def _drift(denoise: Denoise, path: GaussianPath, x: Tensor, t: Tensor) -> Tensor:
    t = _full(t, x)
    return path.velocity(denoise(x, t), t)


def euler(
    denoise: Denoise, path: GaussianPath, x: Tensor, times: Tensor, generator=None, mask=None
) -> Tensor:
    """First-order steps of the probability-flow ODE."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = _masked(x + (t_next - t) * _drift(denoise, path, x, t), mask)
    return x


def heun(
    denoise: Denoise, path: GaussianPath, x: Tensor, times: Tensor, generator=None, mask=None
) -> Tensor:
    """EDM's Heun method: an Euler step corrected by the drift at its end point (not on a
    final step to ``t = 0``, where the drift is undefined): ``2 · steps − 1`` evaluations."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        d = _drift(denoise, path, x, t)
        x_next = _masked(x + (t_next - t) * d, mask)
        if t_next > 0:
            d_next = _drift(denoise, path, x_next, t_next)
            x_next = _masked(x + (t_next - t) * 0.5 * (d + d_next), mask)
        x = x_next
    return x


def midpoint(
    denoise: Denoise, path: GaussianPath, x: Tensor, times: Tensor, generator=None, mask=None
) -> Tensor:
    """The explicit midpoint rule (EPiC-FM's sampler): ``2 · steps`` evaluations."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        h = t_next - t
        x_mid = _masked(x + 0.5 * h * _drift(denoise, path, x, t), mask)
        x = _masked(x + h * _drift(denoise, path, x_mid, t + 0.5 * h), mask)
    return x


def ddim(
    denoise: Denoise,
    path: GaussianPath,
    x: Tensor,
    times: Tensor,
    generator=None,
    mask=None,
    eta: float = 0.0,
) -> Tensor:
    """Song et al.'s DDIM: ``x' = α' x̂₀ + √(s'² − c²) ε̂ + c z`` with
    ``c = η (s'/s) √(1 − α²/α'²)``; ``eta > 0`` needs a variance-preserving path."""
    if eta and not isinstance(path, VariancePreserving):
        raise ValueError("ddim with eta > 0 is defined for variance-preserving paths (process=vp)")
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        est = denoise(x, _full(t, x))
        alpha, s = (float(v) for v in path.scales(t)[:2])
        alpha_n, s_n = (float(v) for v in path.scales(t_next)[:2])
        c = eta * (s_n / s) * max(1.0 - alpha**2 / alpha_n**2, 0.0) ** 0.5 if eta else 0.0
        x = alpha_n * est.x0 + max(s_n**2 - c**2, 0.0) ** 0.5 * est.eps
        if c:
            x = x + c * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = _masked(x, mask)
    return x


def euler_maruyama(
    denoise: Denoise, path: GaussianPath, x: Tensor, times: Tensor, generator=None, mask=None
) -> Tensor:
    """The reverse-time SDE ``dx = [f x − g² ∇log p] dt + g dW̄`` with ``f = α'/α``,
    ``g² = 2 s s' − 2 f s²`` and ``∇log p = −ε̂ / s``; a deterministic last step to ``t_end``."""
    if float(path.scales(times[0])[0]) <= 0.0:
        raise ValueError(
            "euler_maruyama needs a signal rate α > 0 at the start of the path (process=vp or "
            "edm); flow matching samples with an ODE sampler (euler, heun, midpoint, ode)"
        )
    steps = len(times) - 1
    for i, (t, t_next) in enumerate(zip(times[:-1], times[1:], strict=True)):
        if i == steps - 1:
            x = _masked(x + (t_next - t) * _drift(denoise, path, x, t), mask)
            break
        tt = _full(t, x)
        est = denoise(x, tt)
        alpha, s, d_alpha, d_s = (expand_like(v, x) for v in path.scales(tt))
        f = d_alpha / alpha
        g2 = (2.0 * s * d_s - 2.0 * f * s**2).clamp_min(0.0)
        dt = t_next - t  # negative
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = x + (f * x + g2 * est.eps / s) * dt + (g2 * dt.abs()).sqrt() * noise
        x = _masked(x, mask)
    return x


def ode(
    denoise: Denoise,
    path: GaussianPath,
    x: Tensor,
    times: Tensor,
    generator=None,
    mask=None,
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> Tensor:
    """The probability-flow ODE solved by torchdiffeq (``method``: ``dopri5``, ``rk4``, ...;
    fixed-step methods step on ``times``, adaptive ones only report there). The last interval
    ends at ``t_end`` only where the drift is finite there (VP/EDM end on ``s = 0``: the
    solve stops at the grid's last non-zero time and one Euler step finishes)."""
    from torchdiffeq import odeint

    def rhs(t: Tensor, state: Tensor) -> Tensor:
        return _masked(_drift(denoise, path, state, t), mask)

    finite = times if float(path.scales(times[-1])[1]) > 0 else times[:-1]
    kwargs = {"rtol": rtol, "atol": atol} if method in ADAPTIVE else {}
    x = odeint(rhs, x, finite, method=method, **kwargs)[-1]
    if len(finite) < len(times):
        x = euler(denoise, path, x, times[-2:], mask=mask)
    return _masked(x, mask)


#: sampler name (``model.sampler.name``) → function
SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler": euler,
    "heun": heun,
    "midpoint": midpoint,
    "ddim": ddim,
    "euler_maruyama": euler_maruyama,
    "ode": ode,
}


def network_evaluations(name: str, steps: int) -> int:
    """Network calls of ``steps`` steps of sampler ``name`` (``ode``: adaptive, unknown: -1)."""
    return {"heun": 2 * steps - 1, "midpoint": 2 * steps, "ode": -1}.get(name, steps)
