"""Energy flow polynomials (EFPs) of degree d <= 4, batched in torch (no ``energyflow``).

An EFP of a multigraph G with N vertices and edges (k, l) is

    EFP_G = sum_{i1..iN} z_{i1} ... z_{iN} prod_{(k, l) in G} theta_{ik il}

over the particles of one jet. With energyflow's ``measure="hadr", beta=1, kappa=1,
normed=None, coords="ptyphim"`` (what jetnet uses for W1EFP and FPD/KPD):

- ``z_i = pT_i`` (``normed=None`` is falsy: energyflow does *not* divide by the jet's
  sum of pT; jetnet passes ``pt_rel``, so z is already a fraction of the jet pT);
- ``theta_ij = (dy^2 + dphi^2)^(beta / 2)`` with the second column taken as the rapidity
  (jetnet passes eta_rel; massless particles) and ``dphi = pi - ||phi_i - phi_j| - pi|``
  (energyflow's ``_thetas2_from_yphis``: the azimuthal distance folded into [0, pi]).

Padded particles get ``z = 0`` and so contribute nothing. A disconnected graph is the
product of its connected parts. :data:`GRAPHS` lists the 36 multigraphs of
``EFPSet(("d<=", 4))`` in energyflow's order (energyflow 1.4: the 21 connected graphs by
(n, d, ...) as energyflow's generator numbers them, then the 15 disconnected ones);
:data:`SPECS` holds energyflow's ``specs`` columns (n, e, d, v, k, c, p, h) for selections
such as the W1EFP set ``("n==", 4), ("d==", 4), ("p==", 1)``.

Each connected graph is evaluated by a fixed contraction of the ``(B, M, M)`` angle matrix
and ``(B, M)`` weights whose cost is at most O(B M^3) (the triangle and the square through
``W = theta diag(z) theta``); :func:`efp_bruteforce` sums over every vertex assignment
(O(M^N), for tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch

# energyflow's EFPSet(("d<=", 4)) graphs, in its order (edges between vertices 0..n-1).
GRAPHS: tuple[tuple[tuple[int, int], ...], ...] = (
    (),  # 0: the dot, sum_i z_i
    ((0, 1),),
    ((0, 1), (0, 1)),
    ((0, 1), (0, 1), (0, 1)),
    ((0, 1), (0, 1), (0, 1), (0, 1)),
    ((0, 1), (0, 2)),  # 5
    ((0, 1), (0, 2), (0, 2)),
    ((0, 1), (0, 2), (0, 2), (0, 2)),
    ((0, 1), (0, 1), (0, 2), (0, 2)),
    ((0, 1), (0, 2), (1, 2)),  # 9: triangle
    ((0, 1), (0, 2), (0, 2), (1, 2)),
    ((0, 1), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3)),
    ((0, 1), (0, 2), (0, 2), (1, 3)),
    ((0, 1), (0, 1), (0, 2), (1, 3)),  # 15
    ((0, 1), (0, 2), (1, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3), (2, 3)),  # 17: square
    ((0, 1), (0, 2), (0, 3), (0, 4)),
    ((0, 1), (0, 2), (0, 3), (1, 4)),
    ((0, 1), (0, 2), (1, 3), (2, 4)),  # 20: last connected graph
    ((0, 1), (2, 3)),
    ((0, 1), (2, 3), (2, 3)),
    ((0, 1), (2, 3), (2, 3), (2, 3)),
    ((0, 1), (0, 1), (2, 3), (2, 3)),
    ((0, 1), (2, 3), (2, 4)),  # 25
    ((0, 1), (0, 1), (2, 3), (2, 4)),
    ((0, 1), (2, 3), (2, 4), (2, 4)),
    ((0, 1), (2, 3), (2, 4), (3, 4)),
    ((0, 1), (2, 3), (4, 5)),
    ((0, 1), (2, 3), (2, 4), (2, 5)),  # 30
    ((0, 1), (2, 3), (2, 4), (3, 5)),
    ((0, 1), (0, 2), (3, 4), (3, 5)),
    ((0, 1), (2, 3), (4, 5), (4, 5)),
    ((0, 1), (2, 3), (4, 5), (4, 6)),
    ((0, 1), (2, 3), (4, 5), (6, 7)),  # 35
)
N_CONNECTED = 21
# connected parts (indices into GRAPHS) of each disconnected graph 21..35
DISCONNECTED: tuple[tuple[int, ...], ...] = (
    (1, 1), (1, 2), (1, 3), (2, 2), (1, 5), (2, 5), (1, 6), (1, 9),
    (1, 1, 1), (1, 11), (1, 13), (5, 5), (1, 1, 2), (1, 1, 5), (1, 1, 1, 1),
)  # fmt: skip

SPEC_COLUMNS = ("n", "e", "d", "v", "k", "c", "p", "h")
# energyflow 1.4's EFPSet(("d<=", 4)).specs: vertices, simple edges, degree, max valency,
# energyflow's graph id, VE complexity, prime factors, valency-1 vertices
SPECS = np.array(
    [
        [1, 0, 0, 0, 0, 1, 1, 0], [2, 1, 1, 1, 0, 2, 1, 2], [2, 1, 2, 2, 0, 2, 1, 0],
        [2, 1, 3, 3, 0, 2, 1, 0], [2, 1, 4, 4, 0, 2, 1, 0], [3, 2, 2, 2, 0, 2, 1, 2],
        [3, 2, 3, 3, 0, 2, 1, 1], [3, 2, 4, 4, 0, 2, 1, 1], [3, 2, 4, 4, 1, 2, 1, 0],
        [3, 3, 3, 2, 1, 3, 1, 0], [3, 3, 4, 3, 2, 3, 1, 0], [4, 3, 3, 3, 0, 2, 1, 3],
        [4, 3, 4, 4, 0, 2, 1, 2], [4, 3, 3, 2, 1, 2, 1, 2], [4, 3, 4, 3, 1, 2, 1, 1],
        [4, 3, 4, 3, 2, 2, 1, 2], [4, 4, 4, 3, 3, 3, 1, 1], [4, 4, 4, 2, 4, 3, 1, 0],
        [5, 4, 4, 4, 0, 2, 1, 4], [5, 4, 4, 3, 1, 2, 1, 3], [5, 4, 4, 2, 2, 2, 1, 2],
        [4, 2, 2, 1, 0, 2, 2, 4], [4, 2, 3, 2, 2, 2, 2, 2], [4, 2, 4, 3, 5, 2, 2, 2],
        [4, 2, 4, 2, 5, 2, 2, 0], [5, 3, 3, 2, 0, 2, 2, 4], [5, 3, 4, 2, 3, 2, 2, 2],
        [5, 3, 4, 3, 3, 2, 2, 3], [5, 4, 4, 2, 4, 3, 2, 2], [6, 3, 3, 1, 0, 2, 3, 6],
        [6, 4, 4, 3, 0, 2, 2, 5], [6, 4, 4, 2, 1, 2, 2, 4], [6, 4, 4, 2, 0, 2, 2, 4],
        [6, 3, 4, 2, 0, 2, 3, 4], [7, 4, 4, 2, 0, 2, 3, 6], [8, 4, 4, 1, 0, 2, 4, 8],
    ],
    dtype=np.int64,
)  # fmt: skip
MAX_DEGREE = 4

_OPS = {
    "==": np.equal, "<=": np.less_equal, ">=": np.greater_equal,
    "<": np.less, ">": np.greater, "!=": np.not_equal,
}  # fmt: skip
_SEL = re.compile(r"^\s*([a-z])\s*(==|<=|>=|!=|<|>)\s*(-?\d+)?\s*$")


def _parse(arg) -> tuple[str, str, int]:
    if isinstance(arg, str):
        m = _SEL.match(arg)
        if m is None or m.group(3) is None:
            raise ValueError(f"EFP selection {arg!r}: expected e.g. 'd<=4'")
        return m.group(1), m.group(2), int(m.group(3))
    if isinstance(arg, (tuple, list)) and len(arg) == 2 and isinstance(arg[0], str):
        m = _SEL.match(arg[0])
        if m is None or m.group(3) is not None:
            raise ValueError(f"EFP selection {arg!r}: expected e.g. ('d<=', 4)")
        return m.group(1), m.group(2), int(arg[1])
    raise ValueError(f"EFP selection {arg!r}: expected e.g. ('d<=', 4) or 'd<=4'")


def select(*args) -> np.ndarray:
    """Boolean mask over :data:`GRAPHS` of the EFPs that energyflow's ``EFPSet(*args)``
    holds, e.g. ``select(("d<=", 4))`` (all 36) or ``select(("n==", 4), ("d==", 4),
    ("p==", 1))`` (jetnet's W1EFP set). The selection must bound the degree by 4.

    Raises:
        ValueError: a malformed selection, an unknown spec, or one that allows d > 4
            (genhep computes only d <= 4; energyflow's ``EFPSet`` is needed beyond).
    """
    keep = np.ones(len(GRAPHS), dtype=bool)
    bounded = False
    for arg in args:
        name, op, value = _parse(arg)
        if name not in SPEC_COLUMNS:
            raise ValueError(f"EFP selection {arg!r}: spec {name!r} not in {SPEC_COLUMNS}")
        keep &= _OPS[op](SPECS[:, SPEC_COLUMNS.index(name)], value)
        if name == "d" and (
            (op in ("==", "<=") and value <= MAX_DEGREE) or (op == "<" and value <= MAX_DEGREE + 1)
        ):
            bounded = True
    if not bounded:
        raise ValueError(
            f"EFP selection {args!r} does not bound the degree d by {MAX_DEGREE}: genhep "
            f"computes EFPs with d <= {MAX_DEGREE} only (add e.g. ('d<=', 4))"
        )
    return keep


def thetas(yphi: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """``(B, M, M)`` angles ``(dy^2 + dphi^2)^(beta/2)`` from ``(B, M, 2)`` [y, phi], with
    energyflow's folding of dphi into [0, pi]."""
    d = yphi[:, :, None, :] - yphi[:, None, :, :]
    dphi = math.pi - (d[..., 1].abs() - math.pi).abs()
    t2 = d[..., 0] ** 2 + dphi**2
    return t2.sqrt() if beta == 1 else t2 ** (beta / 2)


def _connected(z: torch.Tensor, t: torch.Tensor) -> list[torch.Tensor]:
    """The 21 connected d <= 4 EFPs ``(B,)`` each, from weights ``z`` (B, M) and angles
    ``t`` (B, M, M); every contraction costs at most O(B M^3)."""

    def mv(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # (B, M, M) @ (B, M)
        return torch.einsum("bij,bj->bi", a, v)

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).sum(-1)

    t2, t3 = t * t, t * t * t
    t4 = t2 * t2
    v1, v2, v3, v4 = mv(t, z), mv(t2, z), mv(t3, z), mv(t4, z)  # sum_j theta_ij^k z_j
    u = z * v1  # vertex with one pendant leaf
    w = torch.einsum("bik,bk,bkj->bij", t, z, t)  # sum_k theta_ik z_k theta_kj
    w2 = torch.einsum("bik,bk,bkj->bij", t2, z, t)  # sum_k theta_ik^2 z_k theta_kj
    zz_t = z[:, :, None] * z[:, None, :] * t  # z_i z_j theta_ij
    return [
        z.sum(-1),  # 0 dot
        dot(z, v1),  # 1 edge
        dot(z, v2),  # 2 double edge
        dot(z, v3),
        dot(z, v4),
        dot(z, v1 * v1),  # 5 two edges at vertex 0
        dot(z, v1 * v2),
        dot(z, v1 * v3),
        dot(z, v2 * v2),
        (zz_t * w).sum((-2, -1)),  # 9 triangle
        (zz_t * w2).sum((-2, -1)),  # 10 triangle, 0-2 doubled
        dot(z, v1**3),  # 11 star
        dot(z, v1 * v1 * v2),
        dot(u, mv(t, u)),  # 13 path of 3 edges
        dot(z * v2, mv(t, u)),  # 14
        dot(u, mv(t2, u)),  # 15
        ((u[:, :, None] * z[:, None, :] * t) * w).sum((-2, -1)),  # 16 triangle + pendant
        (z[:, :, None] * z[:, None, :] * w * w).sum((-2, -1)),  # 17 square
        dot(z, v1**4),  # 18 star
        dot(z * v1 * v1, mv(t, u)),  # 19
        dot(z, mv(t, u) ** 2),  # 20 path of 4 edges
    ]


def _chunk(z: torch.Tensor, yphi: torch.Tensor, beta: float) -> torch.Tensor:
    conn = _connected(z, thetas(yphi, beta))
    out = list(conn)
    for parts in DISCONNECTED:
        value = conn[parts[0]]
        for p in parts[1:]:
            value = value * conn[p]
        out.append(value)
    return torch.stack(out, dim=-1)


def efp_values(
    pt: torch.Tensor,
    y: torch.Tensor,
    phi: torch.Tensor,
    mask: torch.Tensor | None = None,
    columns: Sequence[int] | np.ndarray | None = None,
    beta: float = 1.0,
    max_elements: int = 1 << 24,
) -> torch.Tensor:
    """EFPs ``(B, n_columns)`` of :data:`GRAPHS` (all 36 by default, or ``columns``) for jets
    of particles ``pt``, ``y``, ``phi`` ``(B, M)`` (z = pT, unnormalised; see the module
    docstring), on the inputs' device, in their promoted floating dtype (use float64 for 1e-6;
    integers give float64).

    ``mask`` ``(B, M)`` marks real particles (others contribute nothing, whatever their
    values). Jets are processed in chunks of at most ``max_elements`` angle-matrix entries.
    """
    if pt.ndim != 2 or y.shape != pt.shape or phi.shape != pt.shape:
        raise ValueError(
            f"pt, y, phi must share a shape (B, M), got {tuple(pt.shape)}, "
            f"{tuple(y.shape)}, {tuple(phi.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(pt.dtype, y.dtype), phi.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    z, yphi = pt.to(dtype), torch.stack([y.to(dtype), phi.to(dtype)], dim=-1)
    if mask is not None:
        keep = mask.reshape(pt.shape).to(device=pt.device, dtype=torch.bool)
        z = torch.where(keep, z, torch.zeros((), dtype=dtype, device=pt.device))
        yphi = torch.where(keep[..., None], yphi, torch.zeros((), dtype=dtype, device=pt.device))
    cols = None if columns is None else torch.as_tensor(np.asarray(columns), device=pt.device)
    n_jets, m = pt.shape
    step = max(1, max_elements // max(m * m, 1))
    out = []
    for start in range(0, n_jets, step):
        values = _chunk(z[start : start + step], yphi[start : start + step], beta)
        out.append(values if cols is None else values[:, cols])
    if not out:
        return torch.zeros(0, len(GRAPHS) if cols is None else len(cols), dtype=dtype)
    return torch.cat(out)


def efp_bruteforce(edges: Sequence[tuple[int, int]], z: np.ndarray, theta: np.ndarray) -> float:
    """One jet's EFP of a graph by the definition: a sum over every assignment of particles
    to vertices (O(M^N); for tests). ``z`` (M,), ``theta`` (M, M)."""
    n = 1 + max((max(e) for e in edges), default=0)
    letters = "abcdefghij"[:n]
    operands: list[np.ndarray] = [z] * n
    terms = list(letters)
    for a, b in edges:
        operands.append(theta)
        terms.append(letters[a] + letters[b])
    return float(np.einsum(",".join(terms) + "->", *operands))
