"""MPGAN and the baselines of its Table 2: every generator makes the multiplicities it is given
with padding exactly zero, every discriminator is permutation invariant and blind to padding,
the edge-conditioned convolution is its formula, both losses train, and every row of the
experiment composes with the authors' settings."""

import itertools

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from jetnet_files import N_PART, make_jets, write_file
from scipy.spatial.distance import cdist

from genhep.data.jets.jetnet import JetNetDataModule, MaskedMaxAbs
from genhep.models.base import Generated
from genhep.models.cloud_gan import CloudGAN
from genhep.nn import cloud_discriminators as discriminators
from genhep.nn import cloud_generators as generators
from genhep.nn.edge_conv import EdgeConditionedConv, knn_indices
from genhep.train import train

from conftest import compose_train

SPEC = {"family": "jetnet", "event_shape": [N_PART, 3], "cond_dim": 0, "has_mask": True}
MP_SMALL = {"hidden_features": 8, "edge_hidden": [8, 8], "node_hidden": [8]}
GENERATORS = {
    "mp": lambda: generators.MPGenerator(N_PART, 3, noise_features=8, **MP_SMALL),
    "mp_lfc": lambda: generators.MPGenerator(N_PART, 3, noise_features=8, latent_fc=16, **MP_SMALL),
    "fc": lambda: generators.FCGenerator(N_PART, 3, latent=16, hidden=[8, 16]),
    "graphcnn": lambda: generators.GraphCNNGenerator(N_PART, 3, latent=16, features=[8, 6], k=5),
}
DISCRIMINATORS = {
    "mp": lambda: discriminators.MPDiscriminator(N_PART, 3, dropout=0.0, **MP_SMALL),
    "fc": lambda: discriminators.FCDiscriminator(N_PART, 3, point=[8, 16], head=[8]),
    "pointnet": lambda: discriminators.PointNetMixDiscriminator(N_PART, 3, point=[8, 16], head=[8]),
}
COUNTS = [1, 5, 10, 20, 29, 30]


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_make_the_multiplicities_they_are_given_with_padding_zero(name):
    torch.manual_seed(0)
    x, mask = GENERATORS[name]().eval()(torch.tensor(COUNTS))
    assert x.shape == (6, N_PART, 3) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == COUNTS
    assert (x[~mask] == 0).all() and (x[mask] != 0).all()


def test_slot_generators_fill_the_leading_slots_and_mp_ranks_its_first_input():
    torch.manual_seed(0)
    _, mask = GENERATORS["fc"]()(torch.tensor(COUNTS))
    assert all(mask[i, :k].all() and not mask[i, k:].any() for i, k in enumerate(COUNTS))
    generator = GENERATORS["mp_lfc"]().eval()
    torch.manual_seed(1)
    _, mask = generator(torch.tensor(COUNTS))
    torch.manual_seed(1)  # MP-LFC ranks the output of its latent layer, not the latent
    nodes = generator.lfc(torch.randn(6, 16)).view(6, N_PART, 8)[:, :, 0]
    for i, k in enumerate(COUNTS):
        assert set(mask[i].nonzero().flatten().tolist()) == set(nodes[i].argsort()[:k].tolist())


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_discriminators_are_permutation_invariant_and_blind_to_padding(name):
    torch.manual_seed(0)
    net = DISCRIMINATORS[name]().eval()
    x = torch.randn(4, N_PART, 3)
    mask = torch.rand(4, N_PART) > 0.4
    padded = torch.where(mask[..., None], x, torch.zeros_like(x))
    noisy = torch.where(mask[..., None], x, 50 * torch.randn_like(x))
    torch.testing.assert_close(net(noisy, mask), net(padded, mask))
    perm = torch.randperm(N_PART)
    torch.testing.assert_close(net(x[:, perm], mask[:, perm]), net(x, mask), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(net(x, mask), net(x + 0.5, mask))  # it does look at the particles


def test_knn_is_the_brute_force_neighbours():
    torch.manual_seed(0)
    x = torch.randn(3, 12, 4, dtype=torch.float64)
    found = knn_indices(x, 5)
    for b in range(3):
        d = cdist(x[b].numpy(), x[b].numpy())
        np.fill_diagonal(d, np.inf)
        expected = np.argsort(d, axis=1)[:, :5]
        assert (np.sort(found[b].numpy(), 1) == np.sort(expected, 1)).all()
    with pytest.raises(ValueError, match="k must be in"):
        knn_indices(x, 12)


def test_edge_conditioned_convolution_is_its_formula_and_equivariant():
    torch.manual_seed(0)
    conv = EdgeConditionedConv(4, 3, k=5).double()
    x = torch.randn(2, 9, 4, dtype=torch.float64)
    out = conv(x)
    b, i = 1, 4
    neighbours = knn_indices(x, 5)[b, i]
    messages = [
        x[b, j] @ conv.edge_weights(x[b, j] - x[b, i]).view(4, 3) for j in neighbours.tolist()
    ]
    expected = conv.root(x[b, i]) + torch.stack(messages).mean(0)
    torch.testing.assert_close(out[b, i], expected)
    perm = torch.randperm(9)
    torch.testing.assert_close(conv(x[:, perm]), out[:, perm])


def test_cloud_gan_samples_with_its_own_masks_and_refuses_a_wrong_generator():
    model = CloudGAN(
        SPEC, lambda **kw: GENERATORS["graphcnn"](), lambda **kw: DISCRIMINATORS["pointnet"]()
    ).eval()
    real_mask = torch.zeros(6, N_PART, dtype=torch.bool)
    for i, k in enumerate(COUNTS):
        real_mask[i, :k] = True
    out = model.sample(6, mask=real_mask[torch.randperm(6)])
    assert isinstance(out, Generated) and sorted(out.mask.sum(1).tolist()) == COUNTS
    with pytest.raises(ValueError, match="pass mask"):
        model.sample(6)
    with pytest.raises(TypeError, match="CloudGenerator"):
        CloudGAN(SPEC, lambda **kw: torch.nn.Linear(2, 2), lambda **kw: DISCRIMINATORS["fc"]())
    with pytest.raises(ValueError, match="model.loss"):
        CloudGAN(
            SPEC, lambda **kw: GENERATORS["fc"](), lambda **kw: DISCRIMINATORS["fc"](), "hinge"
        )


@pytest.mark.parametrize("loss", ["lsgan", "wgan_gp"])
def test_one_step_of_each_loss_moves_both_networks(loss):
    torch.manual_seed(0)
    model = CloudGAN(
        SPEC, lambda **kw: GENERATORS["fc"](), lambda **kw: DISCRIMINATORS["pointnet"](), loss
    )
    x = torch.rand(16, N_PART, 3) - 0.5
    mask = torch.arange(N_PART)[None] < torch.randint(1, N_PART + 1, (16, 1))
    batch = {"x": x * mask[..., None], "mask": mask}
    for network, losses in [
        (model.discriminator, model.discriminator_losses(batch)),
        (model.generator, model.generator_losses(batch)),
    ]:
        before = [p.detach().clone() for p in network.parameters()]
        optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
        for values in losses:
            optimizer.zero_grad()
            values["loss"].backward()
            optimizer.step()
            assert torch.isfinite(values["loss"])
        assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters(), strict=True))


ROWS = {
    # row: (loss, critic steps, generator, discriminator, G optimizer, G lr, D lr, batch)
    "g_fc_fc": ("wgan_gp", 5, "FCGenerator", "FCDiscriminator", "Adam", 1e-4, 1e-4, 50),
    "g_graphcnn_pointnet": (
        "wgan_gp", 5, "GraphCNNGenerator", "PointNetMixDiscriminator", "RMSprop", 1e-4, 1e-4, 256
    ),
    "g_mp_mp": ("lsgan", 1, "MPGenerator", "MPDiscriminator", "RMSprop", 1e-5, 3e-5, 256),
    "q_mplfc_mp": ("lsgan", 1, "MPGenerator", "MPDiscriminator", "RMSprop", 5e-6, 1.5e-5, 256),
    "t_mp_pointnet": (
        "lsgan", 1, "MPGenerator", "PointNetMixDiscriminator", "RMSprop", 2e-5, 6e-5, 256
    ),
    "t_fc_pointnet": ("wgan_gp", 5, "FCGenerator", "PointNetMixDiscriminator", "Adam", 1e-4, 1e-4, 256),
}  # fmt: skip


def test_every_row_of_the_experiment_has_the_authors_settings():
    with initialize_config_module("genhep.conf", version_base=None):
        for row, expected in ROWS.items():
            cfg = compose(
                "train", ["experiment=mpgan_neurips2021", f"+preset/mpgan_neurips2021={row}"]
            )
            m = cfg.model
            found = (
                m.loss,
                m.critic_steps,
                m.generator._target_.rsplit(".", 1)[1],
                m.discriminator._target_.rsplit(".", 1)[1],
                m.optimizer._target_.rsplit(".", 1)[1],
                m.optimizer.lr,
                m.discriminator_optimizer.lr,
                cfg.data.batch_size,
            )
            assert found == expected, row
            assert cfg.data.jet_type == row[0] and cfg.label.startswith(
                {"g": "gluon", "q": "light quark", "t": "top"}[row[0]]
            )
            if m.optimizer._target_.endswith("Adam"):
                assert list(m.optimizer.betas) == [0.5, 0.999]
                assert list(m.discriminator_optimizer.betas) == [0.5, 0.999]
            instantiate(m, data_spec=SPEC)  # the networks build
        sweep = compose("train", ["experiment=mpgan_neurips2021"], return_hydra_config=True)
        rows = sweep.hydra.sweeper.params["+preset/mpgan_neurips2021"].split(",")
        assert len(rows) == 13 and set(ROWS) <= set(rows)


@pytest.mark.parametrize(
    ("generator", "discriminator", "loss"),
    [("mp", "mp", "lsgan"), ("fc", "pointnet", "wgan_gp")],
)
def test_trains_through_genhep_train_and_evaluates_with_its_masks(
    tmp_path, generator, discriminator, loss
):
    write_file(tmp_path / "g.hdf5", *make_jets(400, seed=2))
    small = {
        "mp": ["model.generator.noise_features=8", "model.generator.hidden_features=8"]
        + [f"model.{n}.edge_hidden=[16,16]" for n in ("generator", "discriminator")]
        + [f"model.{n}.node_hidden=[16]" for n in ("generator", "discriminator")]
        + ["model.discriminator.hidden_features=8"],
        "fc": ["model.discriminator.point=[16,32]", "model.discriminator.head=[16]"],
    }[generator]
    cfg = compose_train(
        tmp_path,
        [
            "model=mpgan",
            f"model/generator={generator}",
            f"model/discriminator={discriminator}",
            f"model.loss={loss}",
            "data=jetnet",
            f"data.path={tmp_path}",
            "data.transform=max_abs",
            "data.n_events=null",
            "data.batch_size=64",
            "data.evaluator.distances=false",
            "data.evaluator.cov_mmd_n_eval=20",
            "data.evaluator.cov_mmd_batches=2",
            *small,
            "trainer.max_epochs=2",
            "callbacks.evaluation.n_samples=60",
            "callbacks.evaluation.every_n_epochs=1",
            "callbacks.evaluation.validation_evaluator={cov_mmd: false}",
        ],
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["test/w1m"]) and np.isfinite(metrics["val/loss"])
    assert metrics["test/w1m"] > 0
    # COV/MMD at the test only: the validations' evaluator had cov_mmd=false
    assert np.isfinite(metrics["val/w1m"]) and "val/cov" not in metrics
    assert 0 <= metrics["test/cov"] <= 1


def test_max_abs_transform_puts_features_in_minus_one_one_and_physical_pt_is_not_negative(
    tmp_path,
):
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
    # a tanh output below the smallest real value maps to pT_rel 0, never below; padding zero
    generated = torch.full((2, N_PART, 3), -0.99)
    gen_mask = torch.arange(N_PART)[None] < torch.tensor([[3], [30]])
    physical = dm.to_physical(generated * gen_mask[..., None], mask=gen_mask)
    assert (physical[..., 2] >= 0).all() and (physical[~gen_mask.numpy()] == 0).all()


def test_all_pairs_compose():
    with initialize_config_module("genhep.conf", version_base=None):
        for g, d in itertools.product(GENERATORS, DISCRIMINATORS):
            cfg = compose(
                "train", ["model=mpgan", f"model/generator={g}", f"model/discriminator={d}"]
            )
            assert cfg.model.generator._partial_ and cfg.model.discriminator._partial_
