"""LAGAN: locally connected layer, minibatch discrimination, the networks, training runs."""

import functools
import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from jet_image_files import make_images, write_lagan
from torch.utils.data import DataLoader

import genhep.nn.locally_connected as locally_connected
from genhep.evaluate import restore_checkpoint
from genhep.geometry.jet_image import PAD_28
from genhep.models.lagan import LocationAwareGAN
from genhep.nn.locally_connected import LocallyConnected2d
from genhep.nn.minibatch_discrimination import MinibatchDiscrimination, minibatch_features
from genhep.train import build, train

from conftest import compose_train

SPEC = {"family": "jet_images", "event_shape": [1, 25, 25], "cond_dim": 2, "has_mask": False}
SMALL = {
    "latent_dim": 16,
    "generator_channels": (8, 4, 3, 2),
    "discriminator_channels": (4, 3, 2, 2),
    "minibatch_kernels": 4,
    "minibatch_kernel_dim": 3,
}
SMALL_OVERRIDES = [
    "model.latent_dim=16",
    "model.generator_channels=[8,4,3,2]",
    "model.discriminator_channels=[4,3,2,2]",
    "model.minibatch_kernels=4",
    "model.minibatch_kernel_dim=3",
]


# -- locally connected layer -----------------------------------------------------------


def per_position_reference(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """Plain loops over output positions, each with its own filter bank ``weight[y, x]``."""
    (kh, kw), s, p = layer.kernel_size, layer.stride, layer.padding
    padded = F.pad(x, [p] * 4)
    out = torch.zeros(len(x), layer.out_channels, *layer.out_size, dtype=x.dtype)
    for y in range(layer.out_size[0]):
        for x_ in range(layer.out_size[1]):
            window = padded[:, :, s * y : s * y + kh, s * x_ : s * x_ + kw]
            out[:, :, y, x_] = torch.einsum("bcij,ocij->bo", window, layer.weight[y, x_])
            if layer.bias is not None:
                out[:, :, y, x_] += layer.bias[:, y, x_]
    return out


@pytest.mark.parametrize(
    "in_channels, out_channels, in_size, kernel, stride, padding, bias",
    [
        (1, 3, 7, 3, 1, 0, True),
        (2, 4, 6, 2, 1, 1, False),
        (3, 1, 9, 5, 2, 2, True),
        (4, 2, 8, 3, 2, 1, False),
        (2, 5, (6, 9), (3, 2), 1, 0, True),
        (5, 2, 5, 5, 1, 2, True),
    ],
)
def test_locally_connected_matches_per_position_weights(
    in_channels, out_channels, in_size, kernel, stride, padding, bias
):
    torch.manual_seed(0)
    layer = LocallyConnected2d(in_channels, out_channels, in_size, kernel, stride, padding, bias)
    size = (in_size, in_size) if isinstance(in_size, int) else in_size
    x = torch.randn(3, in_channels, *size)
    out = layer(x)
    assert out.shape == (3, out_channels, *layer.out_size)
    torch.testing.assert_close(out, per_position_reference(layer, x), rtol=1e-5, atol=1e-5)


def test_locally_connected_in_chunks_and_gradients(monkeypatch):
    torch.manual_seed(1)
    layer = LocallyConnected2d(2, 3, 6, 3, stride=2, padding=1).double()
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    whole = layer(x)
    monkeypatch.setattr(locally_connected, "_MAX_COLUMNS", 2 * 9 * 18)  # two images a chunk
    torch.testing.assert_close(layer(x), whole)
    assert torch.autograd.gradcheck(layer, (x[:2],))


def test_locally_connected_is_not_translation_equivariant_unlike_a_shared_kernel():
    torch.manual_seed(2)
    layer = LocallyConnected2d(2, 3, 10, 3, padding=1)
    x = torch.zeros(1, 2, 10, 10)
    x[..., 3:6, 2:5] = torch.randn(2, 3, 3)  # zero border: a one-pixel shift loses nothing

    def shift(t):
        return torch.roll(t, shifts=(1, 2), dims=(-2, -1))

    with torch.no_grad():
        assert not torch.allclose(layer(shift(x)), shift(layer(x)), atol=1e-3)
        conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        layer.weight.copy_(conv.weight.expand_as(layer.weight))
        layer.bias.copy_(conv.bias[:, None, None].expand_as(layer.bias))
        torch.testing.assert_close(layer(x), conv(x), rtol=1e-5, atol=1e-6)
        inside = (slice(None), slice(None), slice(2, 9), slice(3, 9))  # away from the wrap
        torch.testing.assert_close(layer(shift(x))[inside], shift(layer(x))[inside])


def test_locally_connected_rejects_the_wrong_input_size():
    with pytest.raises(ValueError, match=r"expects \(B, 2, 8, 8\) input"):
        LocallyConnected2d(2, 1, 8, 3)(torch.zeros(1, 2, 9, 9))
    with pytest.raises(ValueError, match="does not fit"):
        LocallyConnected2d(1, 1, 2, 5)


# -- minibatch discrimination ------------------------------------------------------------


def test_minibatch_features_match_explicit_loops():
    torch.manual_seed(3)
    m = torch.randn(6, 4, 3)
    expected = torch.zeros(6, 4)
    for i in range(6):
        for k in range(4):
            for j in range(6):
                l1 = sum(abs(float(m[i, k, d] - m[j, k, d])) for d in range(3))
                expected[i, k] += torch.exp(torch.tensor(-l1))
    torch.testing.assert_close(minibatch_features(m), expected)
    layer = MinibatchDiscrimination(5, 4, 3)
    f = torch.randn(6, 5)
    out = layer(f)
    assert out.shape == (6, layer.out_features) == (6, 9)
    torch.testing.assert_close(out[:, :5], f)
    torch.testing.assert_close(out[:, 5:], minibatch_features(layer.projection(f).reshape(6, 4, 3)))
    # a collapsed batch (identical rows) scores the batch size; every row counts itself once
    assert torch.allclose(layer(f[:1].expand(6, 5))[:, 5:], torch.full((6, 4), 6.0))
    assert (out[:, 5:] >= 1.0).all()


# -- the networks ----------------------------------------------------------------------


def test_generator_output_is_sparse_nonnegative_and_depends_on_the_class():
    torch.manual_seed(4)
    model = LocationAwareGAN(SPEC, **SMALL)
    onehot = torch.eye(2)
    torch.manual_seed(5)
    background = model.sample(64, onehot[[0] * 64])
    torch.manual_seed(5)
    signal = model.sample(64, onehot[[1] * 64])
    assert background.shape == signal.shape == (64, 1, 25, 25)
    assert (background >= 0).all() and (background == 0).any() and (background > 0).any()
    assert not torch.allclose(background, signal)  # same noise, another class
    with torch.no_grad():
        _, aux_background = model.discriminator(background)
        _, aux_signal = model.discriminator(signal)
    assert aux_background.shape == (64, 2)
    assert not torch.allclose(aux_background, aux_signal)
    with pytest.raises(ValueError, match=r"pass cond of shape \(n, 2\)"):
        model.sample(3)
    assert not model.has_log_prob


def test_unconditional_28x28_pads_like_the_data_and_has_no_aux_head():
    torch.manual_seed(6)
    model = LocationAwareGAN({**SPEC, "event_shape": [1, 28, 28], "cond_dim": 0}, **SMALL)
    assert model.padding == PAD_28 and model.discriminator.aux is None
    images = model.sample(8)
    assert images.shape == (8, 1, 28, 28)
    before, after = PAD_28
    core = images[..., before : before + 25, before : before + 25]
    border = images.clone()
    border[..., before : before + 25, before : before + 25] = 0
    assert (border == 0).all() and (core > 0).any()
    torch.testing.assert_close(model._crop(images), core)
    with pytest.raises(ValueError, match=r"\(1, S, S\) with S >= 25"):
        LocationAwareGAN({**SPEC, "event_shape": [625]})


def test_default_architecture_follows_the_paper():
    model = LocationAwareGAN(SPEC)
    assert model.latent_dim == 200
    shapes = [tuple(m.weight.shape) for m in model.generator.net if hasattr(m, "out_size")]
    assert shapes == [(14, 14, 6, 64, 5, 5), (26, 26, 6, 6, 3, 3), (25, 25, 1, 6, 2, 2)]
    assert model.generator.net[-2].bias is None
    lc = [m for m in model.discriminator.features if isinstance(m, LocallyConnected2d)]
    assert [m.out_size for m in lc] == [(13, 13), (13, 13), (7, 7)]
    assert model.discriminator.minibatch.in_features == 8 * 3 * 3
    assert model.discriminator.minibatch.out_features == 72 + 20


# -- training --------------------------------------------------------------------------


def test_two_optimizers_over_the_two_networks_and_their_schedulers():
    model = LocationAwareGAN(
        SPEC,
        **SMALL,
        optimizer=functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)),
        discriminator_optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5),
    )
    (opt_g, opt_d), schedulers = model.configure_optimizers()
    assert isinstance(opt_g, torch.optim.Adam) and isinstance(opt_d, torch.optim.SGD)
    assert opt_g.defaults["betas"] == (0.5, 0.999)
    params = [{id(p) for group in o.param_groups for p in group["params"]} for o in (opt_g, opt_d)]
    assert params == [
        {id(p) for p in net.parameters()} for net in (model.generator, model.discriminator)
    ]
    assert [s["scheduler"].optimizer for s in schedulers] == [opt_g, opt_d]
    assert [s["interval"] for s in schedulers] == ["epoch", "epoch"]


def lagan_config(tmp_path, classes, image_size):
    path = tmp_path / "jets.h5"
    write_lagan(path, n_signal=40, n_background=40)
    return compose_train(
        tmp_path,
        [
            "model=lagan",
            "data=jet_images",
            f"data.path={path}",
            f"data.classes={classes}",
            f"data.image_size={image_size}",
            "data.transform=scale",
            "data.scale=100",
            "data.batch_size=16",
            "trainer.max_epochs=1",
            "callbacks.evaluation.figures=false",
            *SMALL_OVERRIDES,
        ],
    )


@pytest.mark.parametrize("classes, image_size", [("both", 25), ("signal", 28)])
def test_trains_through_genhep_train_and_restores(tmp_path, classes, image_size, one_thread):
    cfg = lagan_config(tmp_path, classes, image_size)
    metrics = train(cfg)
    for name in ("train/d_loss", "train/g_loss", "val/loss", "test/loss"):
        assert name in metrics
    assert ("train/aux_loss" in metrics) == (classes == "both")
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    assert results["sampling"]["samples_per_s"] > 0
    # both optimizers stepped: generator and discriminator moved away from their initial values
    pl.seed_everything(cfg.seed)
    _, initial = build(cfg)
    restored = restore_checkpoint(run / "checkpoints" / "last.ckpt").model
    for name in ("generator.project.weight", "discriminator.real_fake.weight"):
        assert not torch.equal(restored.state_dict()[name], initial.state_dict()[name]), name
    assert not restored.has_log_prob
    cond = torch.eye(2)[torch.arange(10) % 2] if classes == "both" else None
    samples = []
    for _ in range(2):
        model = restore_checkpoint(run / "checkpoints" / "last.ckpt").model
        torch.manual_seed(0)
        samples.append(model.sample(10, cond))
    assert samples[0].shape == (10, 1, image_size, image_size)
    assert torch.equal(samples[0], samples[1])


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no")
def test_learns_the_hard_core_of_toy_jets(one_thread):
    """150 batches of toy jets (85 % of the pT in the centre pixel) move the generator's pT there.

    A short GAN run is noisy: lr 10⁻³ (5x LAGAN's) and batch-norm momentum 0.1 so that the
    eval-mode samples see the trained statistics; tried on seeds 0-4, all ended above 0.3.
    """
    images = make_images(32 * 150, signal=False, rng=np.random.default_rng(0)) / 100
    loader = DataLoader([{"x": torch.from_numpy(image[None])} for image in images], batch_size=32)
    pl.seed_everything(0)
    model = LocationAwareGAN(
        {**SPEC, "cond_dim": 0},
        **SMALL,
        bn_momentum=0.1,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999)),
    )

    def share_at_centre():
        with torch.random.fork_rng():
            generated = model.sample(256)
        return float(generated[..., 12, 12].sum() / generated.sum())

    before = share_at_centre()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_dataloaders=loader)
    after = share_at_centre()
    assert before < 0.01 and after > 0.2, (before, after)
