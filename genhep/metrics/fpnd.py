"""Fréchet ParticleNet Distance (FPND, Kansal et al. arXiv:2106.11535), in plain torch.

The definition is ``jetnet.evaluation.fpnd`` of jetnet 0.2.5; this module reproduces it without
``torch_geometric``/``torch_cluster`` and without importing ``jetnet`` (whose import pulls in
coffea and more):

- **Files** (never downloaded): jetnet's distribution ships them under
  ``jetnet/evaluation/fpnd_resources/jetnet/30_particles/``: ``pnet_state_dict.pt`` (the
  ParticleNet classifier's state dict, tensors saved on CUDA, loaded here on the CPU) and
  ``{g,q,t}_mu.txt`` (256,) / ``{g,q,t}_sigma.txt`` (256, 256), the mean and covariance of the
  classifier's penultimate activations on 50,000 real JetNet jets of that type.
  :func:`fpnd_resources` finds the folder with ``importlib.util.find_spec("jetnet")`` (which
  locates the package without running its ``__init__``). Since jetnet is never imported,
  ``pip install --no-deps jetnet==0.2.5`` is enough (jetnet's own dependencies pin numpy < 2).
- **Input**: jets ``(N, 30, 3)`` with the features ``[etarel, phirel, ptrel]`` in that order
  (JetNet's units: η and φ relative to the jet axis, pT as a fraction of the jet pT) and a
  mask ``(N, 30)``. Masked particles are set to zero, as in JetNet's zero-padded arrays that
  jetnet's ``fpnd`` receives; like jetnet, every one of the 30 particles (padded ones
  included) is a node of the graph. Only the first 50,000 jets are used (jetnet's
  ``NUM_SAMPLES``; jetnet recommends exactly that many).
- **Normalisation** (``JetNet.fpnd_norm``): each feature divided by its JetNet maximum
  :data:`FPND_FEATURE_MAXES`, then shifted by :data:`FPND_FEATURE_SHIFTS` (pT_rel by −0.5, so
  a padded particle sits at (0, 0, −0.5)).
- **ParticleNet** (jetnet's ``_ParticleNet(30, 3)``): three EdgeConv blocks, k = 16 nearest
  neighbours (self excluded) on the normalised (η, φ) in the first block and on all current
  features in the next two; the edge network ``[x_i, x_j − x_i] → (Linear, BatchNorm, ReLU)×3``
  with widths 64, 128, 256, messages averaged over the neighbours; each block's output is
  concatenated in front of its input (3 → 67 → 195 → 451 features); mean over the 30 nodes;
  ``fc1`` (451 → 256). The activations compared are ``fc1``'s outputs, before any ReLU
  (``ret_activations=True``); ``fc2`` (256 → 5 classes) is loaded but unused. In evaluation
  mode batch norm uses its running statistics, so the value does not depend on the batch size
  (jetnet's default is 16; only round-off changes).
- **Distance**: :func:`genhep.metrics.frechet.frechet_distance` between the stored real
  statistics and the mean and covariance (``np.cov``, ddof = 1) of the activations of
  ``jets``. jetnet uses scipy's ``sqrtm``; the two agree to round-off.

FPND applies only to 30-particle gluon, light-quark or top jets (``g``, ``q``, ``t``).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn
from torch.nn import functional

from genhep.metrics.frechet import frechet_distance
from genhep.utils.device import default_device

FPND_JET_TYPES = ("g", "q", "t")
FPND_NUM_PARTICLES = 30
FPND_NUM_SAMPLES = 50_000
#: ``JetNet.fpnd_norm`` (jetnet 0.2.5): per-feature maximum of |x| and the shift after scaling
FPND_FEATURE_MAXES = (1.6211985349655151, 0.520724892616272, 0.8934717178344727)
FPND_FEATURE_SHIFTS = (0.0, 0.0, -0.5)
#: where the files sit inside the installed ``jetnet`` package
RESOURCE_SUBDIR = ("evaluation", "fpnd_resources", "jetnet", "30_particles")
STATE_DICT_FILE = "pnet_state_dict.pt"


def _required_files(jet_type: str | None) -> list[str]:
    types = FPND_JET_TYPES if jet_type is None else (jet_type,)
    return [STATE_DICT_FILE] + [f"{t}_{s}.txt" for t in types for s in ("mu", "sigma")]


def fpnd_resources(jet_type: str | None = None) -> Path:
    """The folder of jetnet's installed FPND files (ParticleNet weights, real statistics).

    Raises ``FileNotFoundError`` saying what is missing when ``jetnet`` is not installed or its
    distribution lacks the files (for ``jet_type``, or for every type when ``None``). jetnet
    itself is not imported.
    """
    try:
        spec = importlib.util.find_spec("jetnet")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "FPND needs the ParticleNet weights and real-jet statistics shipped in the jetnet "
            "package, which is not installed (pip install --no-deps jetnet==0.2.5 is enough: "
            "genhep only reads its files)"
        )
    for location in spec.submodule_search_locations:
        folder = Path(location).joinpath(*RESOURCE_SUBDIR)
        missing = [f for f in _required_files(jet_type) if not (folder / f).is_file()]
        if not missing:
            return folder
    raise FileNotFoundError(f"the installed jetnet package has no FPND files {missing} in {folder}")


def fpnd_unavailable_reason(jet_type: str | None = None) -> str | None:
    """Why FPND cannot be computed for ``jet_type`` here, or ``None`` when it can."""
    if jet_type is not None and jet_type not in FPND_JET_TYPES:
        return (
            f"FPND has ParticleNet statistics only for jet types {FPND_JET_TYPES}, not {jet_type!r}"
        )
    try:
        fpnd_resources(jet_type)
    except FileNotFoundError as error:
        return str(error)
    return None


# -- k nearest neighbours ------------------------------------------------------------------------


def knn(points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(B, n, k)`` of the ``k`` nearest other points of every point, nearest first.

    ``points`` is ``(B, n, d)``; Euclidean distance within each set (computed from explicit
    differences, not the matrix-product shortcut), a point never its own neighbour
    (``torch_cluster.knn_graph(..., loop=False)``). Padded particles are ordinary points, as in
    jetnet; ties (identical padded points) are broken by index, which changes nothing
    downstream since tied points carry identical features.
    """
    n = points.shape[1]
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and the number of points - 1 = {n - 1}, got {k}")
    distance = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    self_loops = torch.eye(n, dtype=torch.bool, device=points.device)
    distance = distance.masked_fill(self_loops, float("inf"))
    return distance.topk(k, dim=-1, largest=False, sorted=True).indices


# -- ParticleNet ------------------------------------------------------------------------------


class EdgeNet(nn.Module):
    """jetnet's ``_ParticleNetEdgeNet``: (Linear, BatchNorm1d, ReLU) × 3 on ``[x_i, x_j − x_i]``."""

    def __init__(self, in_size: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for size in (2 * in_size, width, width):
            layers += [nn.Linear(size, width), nn.BatchNorm1d(width), nn.ReLU()]
        self.model = nn.Sequential(*layers)

    def forward(self, edges: torch.Tensor) -> torch.Tensor:
        shape = edges.shape[:-1]
        return self.model(edges.reshape(-1, edges.shape[-1])).reshape(*shape, -1)


class EdgeConv(nn.Module):
    """EdgeConv with mean aggregation (torch_geometric's ``EdgeConv(nn, aggr="mean")``) on a
    dense ``(B, n, k)`` neighbour index: ``x_i' = mean_j nn([x_i, x_j − x_i])``."""

    def __init__(self, edge_net: EdgeNet) -> None:
        super().__init__()
        self.nn = edge_net

    def forward(self, x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        batch, n, k = neighbours.shape
        rows = torch.arange(batch, device=x.device)[:, None, None]
        if self.training:  # batch statistics: the edge network as it is
            x_j = x[rows, neighbours]  # (B, n, k, F)
            x_i = x[:, :, None, :].expand(-1, -1, k, -1)
            return self.nn(torch.cat([x_i, x_j - x_i], dim=-1)).mean(dim=2)
        # Evaluation (FPND): each BatchNorm folded into the linear layer before it, and the
        # first layer on [x_i, x_j - x_i] as (W_a - W_b) x_i + W_b x_j + b, computed once per
        # particle and gathered per edge (k = 16 times fewer products); equal up to rounding.
        (w1, b1), (w2, b2), (w3, b3) = _folded_layers(self.nn.model)
        size = x.shape[-1]
        own = functional.linear(x, w1[:, :size] - w1[:, size:], b1)  # (B, n, W)
        other = functional.linear(x, w1[:, size:])  # (B, n, W)
        h = torch.relu(own[:, :, None, :] + other[rows, neighbours])  # (B, n, k, W)
        h = torch.relu(functional.linear(h, w2, b2))
        return torch.relu(functional.linear(h, w3, b3)).mean(dim=2)


def _folded_layers(model: nn.Sequential) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(weight, bias)`` of each (Linear, BatchNorm1d) pair of an edge network with the
    batch norm's running statistics folded in: ``γ (W x + b − μ) / √(σ² + ε) + β``."""
    folded = []
    for linear, norm in zip(model[0::3], model[1::3], strict=True):
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        folded.append(
            (linear.weight * scale[:, None], (linear.bias - norm.running_mean) * scale + norm.bias)
        )
    return folded


class ParticleNet(nn.Module):
    """jetnet's ``_ParticleNet(num_hits=30, node_feat_size=3)`` on dense ``(B, n, F)`` jets.

    Parameter names and shapes equal jetnet's, so its ``pnet_state_dict.pt`` loads with
    ``strict=True`` (the edge networks are registered twice, as ``edge_nets.i`` and
    ``edge_convs.i.nn``, as in jetnet's file).
    """

    k = 16
    kernel_sizes = (64, 128, 256)
    fc_size = 256

    def __init__(self, node_feat_size: int = 3, num_classes: int = 5) -> None:
        super().__init__()
        self.edge_nets = nn.ModuleList()
        self.edge_convs = nn.ModuleList()
        size = node_feat_size
        for width in self.kernel_sizes:
            self.edge_nets.append(EdgeNet(size, width))
            self.edge_convs.append(EdgeConv(self.edge_nets[-1]))
            size += width  # skip connection: block output concatenated with its input
        self.fc1 = nn.Sequential(nn.Linear(size, self.fc_size))
        self.dropout_layer = nn.Dropout(p=0.1)
        self.fc2 = nn.Linear(self.fc_size, num_classes)

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """``fc1``'s output ``(B, 256)`` (no ReLU): the features FPND compares."""
        for i, conv in enumerate(self.edge_convs):
            neighbours = knn(x[..., :2] if i == 0 else x, self.k)  # (η, φ) in the first block
            x = torch.cat([conv(x, neighbours), x], dim=-1)
        return self.fc1(x.mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 5)`` (jetnet's ``forward`` without ``ret_activations``)."""
        return self.fc2(self.dropout_layer(torch.relu(self.activations(x))))


@functools.lru_cache(maxsize=1)
def _pretrained_state(folder: str) -> dict[str, torch.Tensor]:
    return torch.load(Path(folder) / STATE_DICT_FILE, map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=len(FPND_JET_TYPES))
def _real_statistics(folder: str, jet_type: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.loadtxt(Path(folder) / f"{jet_type}_mu.txt"),
        np.loadtxt(Path(folder) / f"{jet_type}_sigma.txt"),
    )


def pretrained_particlenet(resources: Path | None = None) -> ParticleNet:
    """jetnet's trained ParticleNet in evaluation mode, on the CPU."""
    folder = fpnd_resources() if resources is None else Path(resources)
    model = ParticleNet()
    model.load_state_dict(_pretrained_state(str(folder)), strict=True)
    return model.eval()


def fpnd_preprocess(jets: ArrayLike, mask: ArrayLike | None = None) -> torch.Tensor:
    """``(N, 30, 3)`` ``[etarel, phirel, ptrel]`` jets → ParticleNet's float32 input: masked
    particles zeroed, then ``JetNet.fpnd_norm`` (x / max + shift per feature)."""
    x = torch.as_tensor(np.asarray(jets), dtype=torch.float32).clone()
    if x.ndim != 3 or x.shape[1:] != (FPND_NUM_PARTICLES, 3):
        raise ValueError(
            f"FPND needs jets of shape (N, {FPND_NUM_PARTICLES}, 3) with features "
            f"[etarel, phirel, ptrel], got {tuple(x.shape)}"
        )
    if mask is not None:
        keep = torch.as_tensor(np.asarray(mask).astype(bool))
        if keep.shape != x.shape[:2]:
            raise ValueError(f"mask must have shape {tuple(x.shape[:2])}, got {tuple(keep.shape)}")
        x = x * keep[..., None]
    for i, (maximum, shift) in enumerate(zip(FPND_FEATURE_MAXES, FPND_FEATURE_SHIFTS, strict=True)):
        x[..., i] = x[..., i] / maximum + shift
    return x


@torch.no_grad()
def particlenet_activations(
    model: ParticleNet,
    x: torch.Tensor,
    batch_size: int = 128,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """``model.activations`` of preprocessed jets ``x`` in batches, as a float64 array."""
    device = default_device(device)
    model = model.to(device).eval()
    out = [model.activations(b.to(device)).cpu() for b in torch.split(x, batch_size)]
    return torch.cat(out).double().numpy()


def fpnd(
    jets: ArrayLike,
    mask: ArrayLike | None,
    jet_type: str,
    *,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    resources: Path | None = None,
) -> float:
    """FPND of ``jets`` against jetnet's real ``jet_type`` jets (see the module docstring).

    Args:
        jets: ``(N, 30, 3)`` ``[etarel, phirel, ptrel]`` in JetNet's units; the first 50,000
            are used (fewer give a larger, biased value).
        mask: ``(N, 30)`` real particles, or ``None`` when padded particles are already zero.
        jet_type: ``"g"``, ``"q"`` or ``"t"``.
        batch_size: ParticleNet batch (does not change the value beyond round-off).
        device: default CUDA when available.
        resources: the folder of jetnet's files (default :func:`fpnd_resources`).

    Raises ``FileNotFoundError`` with the reason when jetnet's files are not installed.
    """
    if jet_type not in FPND_JET_TYPES:
        raise ValueError(f"FPND is defined for jet types {FPND_JET_TYPES}, got {jet_type!r}")
    folder = fpnd_resources(jet_type) if resources is None else Path(resources)
    x = fpnd_preprocess(jets, mask)[:FPND_NUM_SAMPLES]
    if len(x) < 2:
        raise ValueError("FPND needs at least two jets (a covariance)")
    act = particlenet_activations(pretrained_particlenet(folder), x, batch_size, device)
    mu_real, sigma_real = _real_statistics(str(folder), jet_type)
    return frechet_distance(mu_real, sigma_real, act.mean(axis=0), np.cov(act, rowvar=False))
