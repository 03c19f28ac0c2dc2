"""MPGAN: masks as the paper sets them, the LSGAN step, sampling with its own masks, training
through genhep train on JetNet-format clouds."""

import numpy as np
import torch
from jetnet_files import N_PART, make_jets, write_file

from genhep.data.jets.jetnet import JetNetDataModule, MaskedMaxAbs
from genhep.models.base import Generated
from genhep.models.mpgan import MessagePassingGAN
from genhep.train import train

from conftest import compose_train

SPEC = {"family": "jetnet", "event_shape": [N_PART, 3], "cond_dim": 0, "has_mask": True}
SMALL = {"hidden_features": 8, "edge_hidden": [8, 8], "node_hidden": [8]}


def test_samples_the_multiplicities_it_is_given_and_returns_its_masks():
    torch.manual_seed(0)
    model = MessagePassingGAN(SPEC, **SMALL).eval()
    real_mask = torch.zeros(6, N_PART, dtype=torch.bool)
    for i, k in enumerate([1, 5, 10, 20, 29, 30]):
        real_mask[i, :k] = True
    out = model.sample(6, mask=real_mask)
    assert isinstance(out, Generated) and out.x.shape == (6, N_PART, 3)
    assert out.mask.sum(1).tolist() == [1, 5, 10, 20, 29, 30]
    assert (out.x[~out.mask] == 0).all() and (out.x.abs() < 1).all()  # tanh, padding zero


def test_discriminator_sums_over_genuine_particles_only():
    torch.manual_seed(0)
    model = MessagePassingGAN(SPEC, **SMALL, dropout=0.0).eval()
    x = torch.randn(4, N_PART, 3)
    mask = torch.rand(4, N_PART) > 0.5
    noisy = torch.where(mask[..., None], x, 50 * torch.randn_like(x))
    torch.testing.assert_close(model.discriminator(noisy, mask), model.discriminator(x, mask))


def test_max_abs_transform_puts_features_in_minus_one_one(tmp_path):
    write_file(tmp_path / "g.hdf5", *make_jets(300, seed=1))
    dm = JetNetDataModule(path=str(tmp_path), transform="max_abs")
    dm.setup()
    assert isinstance(dm.transform, MaskedMaxAbs)
    x, mask = dm.datasets["train"].tensors["x"], dm.datasets["train"].tensors["mask"]
    real = x[mask]
    assert real.abs().max() <= 1.0 + 1e-6 and (x[~mask] == 0).all()
    np.testing.assert_allclose(real[:, 2].max(), 0.5, rtol=1e-6)  # ptrel / max - 0.5
    back = dm.to_physical(x, mask=mask)
    np.testing.assert_allclose(back, dm.physical["train"]["x"], atol=1e-6)


def test_trains_through_genhep_train_and_evaluates_with_its_masks(tmp_path):
    write_file(tmp_path / "g.hdf5", *make_jets(400, seed=2))
    cfg = compose_train(
        tmp_path,
        [
            "model=mpgan",
            "data=jetnet",
            f"data.path={tmp_path}",
            "data.transform=max_abs",
            "data.n_events=null",
            "data.batch_size=64",
            "data.evaluator.distances=false",
            "data.evaluator.cov_mmd=false",
            "model.hidden_features=8",
            "model.edge_hidden=[16,16]",
            "model.node_hidden=[16]",
            "trainer.max_epochs=2",
            "callbacks.evaluation.n_samples=60",
        ],
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["test/w1m"]) and np.isfinite(metrics["val/loss"])
    assert metrics["test/w1m"] > 0
