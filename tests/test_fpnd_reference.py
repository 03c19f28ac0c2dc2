"""genhep's plain-torch FPND against jetnet 0.2.5's own ``fpnd`` (``make test-jetnet``).

jetnet's ParticleNet (``jetnet/evaluation/particlenet.py``) needs ``torch_geometric`` (for
``EdgeConv`` and ``global_mean_pool``) and ``torch_cluster`` (for ``knn_graph``). How this test
runs it:

- ``torch_geometric`` (pure Python) from a separate folder on ``PYTHONPATH``, e.g.
  ``pip install --no-deps --target /tmp/pyg torch_geometric`` then
  ``PYTHONPATH=/tmp/pyg make test-jetnet``; without it the comparison is skipped.
- ``torch_cluster`` (compiled) is replaced by :func:`_knn_graph`, a brute-force pure-torch
  ``knn_graph`` written independently of genhep's :func:`genhep.metrics.fpnd.knn`, with
  torch_cluster's semantics: the ``k + 1`` nearest points of the same graph (``batch``),
  self-loops then removed, edges ``[source j, target i]``. A real ``torch_cluster``, when
  installed, is used instead.

jetnet's ``fpnd`` itself is then called unchanged (jetnet's preprocessing, batch size 16,
its cached weights and statistics, scipy's ``sqrtm``) on the same JetNet-like gluon jets
(``jetnet_files.make_jets``: 30 particles, varying multiplicity, zero padding) as genhep's
:func:`genhep.metrics.fpnd.fpnd`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

pytest.importorskip("jetnet", reason="jetnet is not installed (make test-jetnet)")

from jetnet_files import make_jets  # noqa: E402

from genhep.metrics import fpnd as ours  # noqa: E402

N_JETS = 1_000


def _knn_graph(x, k, batch=None, loop=False, flow="source_to_target", **_):
    """torch_cluster.knn_graph in plain torch (brute force over all pairs of one batch)."""
    if batch is None:
        batch = torch.zeros(len(x), dtype=torch.long, device=x.device)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    d = d.masked_fill(batch[:, None] != batch[None, :], float("inf"))
    per_graph = int(torch.bincount(batch).min())
    nearest = d.topk(min(k if loop else k + 1, per_graph), dim=1, largest=False).indices
    target = torch.arange(len(x), device=x.device)[:, None].expand_as(nearest).reshape(-1)
    source = nearest.reshape(-1)
    if not loop:
        keep = source != target
        source, target = source[keep], target[keep]
    if flow == "source_to_target":
        return torch.stack([source, target])
    return torch.stack([target, source])


@pytest.fixture(scope="module")
def jetnet_particlenet():
    pytest.importorskip(
        "torch_geometric",
        reason="jetnet's ParticleNet needs torch_geometric: pip install --no-deps --target /tmp/pyg "
        "torch_geometric, then PYTHONPATH=/tmp/pyg make test-jetnet",
    )
    stub = None
    if importlib.util.find_spec("torch_cluster") is None:
        stub = types.ModuleType("torch_cluster")
        stub.__spec__ = importlib.machinery.ModuleSpec("torch_cluster", None)
        stub.knn_graph = _knn_graph
        sys.modules["torch_cluster"] = stub
    from jetnet.evaluation import gen_metrics
    from jetnet.evaluation.particlenet import _ParticleNet

    yield gen_metrics, _ParticleNet
    if stub is not None:
        sys.modules.pop("torch_cluster", None)


@pytest.fixture(scope="module")
def gluon_jets():
    pf, _ = make_jets(N_JETS, seed=7)
    return pf


def test_resources_found_without_importing_jetnet():
    folder = ours.fpnd_resources("g")
    assert (folder / "pnet_state_dict.pt").is_file()
    assert ours.fpnd_unavailable_reason("g") is None
    assert "jet types" in ours.fpnd_unavailable_reason("w")


def test_activations_equal_jetnets_particlenet(jetnet_particlenet, gluon_jets):
    gen_metrics, jetnet_pnet_class = jetnet_particlenet
    folder = ours.fpnd_resources("g")
    theirs_model = jetnet_pnet_class(30, 3)
    theirs_model.load_state_dict(
        torch.load(folder / "pnet_state_dict.pt", map_location="cpu", weights_only=True)
    )
    theirs_model.eval()
    x = ours.fpnd_preprocess(gluon_jets[..., :3], gluon_jets[..., 3] > 0)
    # jetnet's own normalisation of the same (already zero-padded) jets
    from jetnet.datasets import JetNet

    theirs_x = JetNet.fpnd_norm(torch.tensor(gluon_jets[..., :3]), inplace=False)
    torch.testing.assert_close(x, theirs_x, rtol=0, atol=1e-7)
    with torch.no_grad():
        theirs = torch.cat(
            [theirs_model(b, ret_activations=True) for b in torch.split(theirs_x, 16)]
        ).numpy()
    mine = ours.particlenet_activations(ours.pretrained_particlenet(), x, device="cpu")
    scale = np.abs(theirs).max()
    print(
        f"activations: max |genhep - jetnet| = {np.abs(mine - theirs).max():.2e}, max |a| = {scale:.2f}"
    )
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5 * scale)
    # and the logits through fc2
    with torch.no_grad():
        logits = ours.pretrained_particlenet()(x[:64])
        theirs_logits = theirs_model(theirs_x[:64])
    torch.testing.assert_close(logits, theirs_logits, rtol=1e-5, atol=1e-5)


def test_fpnd_equals_jetnets_fpnd(jetnet_particlenet, gluon_jets):
    gen_metrics, _ = jetnet_particlenet
    with pytest.warns(RuntimeWarning, match="Recommended number of jets"):
        theirs = float(gen_metrics.fpnd(gluon_jets[..., :3], "g", device="cpu", use_tqdm=False))
    mine = ours.fpnd(gluon_jets[..., :3], gluon_jets[..., 3] > 0, "g", device="cpu")
    print(f"FPND (gluon, {N_JETS} jets): genhep {mine!r}, jetnet {theirs!r}")
    assert mine == pytest.approx(theirs, rel=1e-5)
