"""What the framework does around training: EMA weights, init_from, exact resume (toy and
LAGAN, also when a requeued job finds its own last.ckpt), best-metric checkpoints, sampler
overrides at evaluation, the wandb run id."""

import csv
import json

import pytest
import pytorch_lightning as pl
import torch
from jet_image_files import write_lagan

from genhep.checkpoints import resolve_checkpoint
from genhep.checks import RunConfigError
from genhep.evaluate import (
    EvaluateConfigError,
    checkpoint_overrides,
    model_overrides,
    restore_checkpoint,
)
from genhep.sampling import sample_like
from genhep.train import build, init_weights, train
from genhep.utils.loggers import wandb_run_id

from conftest import bare_trainer, compose_train


def state(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


# ---------------------------------------------------------------- EMA


class RecordWeights(pl.Callback):
    """The generating weights after every optimizer step."""

    def __init__(self):
        self.weights = []

    def on_train_batch_end(self, trainer, pl_module, *args):
        params = pl_module.generating_module().parameters()
        self.weights.append([p.detach().clone() for p in params])


def test_ema_weights_are_the_average_of_the_recorded_weights_and_sample(tmp_path):
    decay = 0.7
    cfg = compose_train(tmp_path, [f"model.ema={decay}", "trainer.max_epochs=1", "test=false"])
    datamodule, model = build(cfg)
    recorder = RecordWeights()
    from genhep.callbacks.framework import FrameworkCallback

    trainer = bare_trainer(FrameworkCallback(), recorder, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=datamodule)
    expected = recorder.weights[0]
    for weights in recorder.weights[1:]:
        expected = [decay * a + (1 - decay) * w for a, w in zip(expected, weights, strict=True)]
    averaged = list(model.averaged.module.parameters())
    for got, want in zip(averaged, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # sampling uses the averaged weights; the live ones come back afterwards
    live = [p.detach().clone() for p in model.generating_module().parameters()]
    with model.averaged_weights():
        for got, want in zip(model.generating_module().parameters(), expected, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(model.generating_module().parameters(), live, strict=True):
        assert torch.equal(got, want)
    real, _ = datamodule.evaluation_samples("test", 200)
    torch.manual_seed(3)
    with_ema, _ = sample_like(model, datamodule, real, progress=False)
    with model.averaged_weights():
        reference = build(cfg)[1]
        reference.load_state_dict(
            {k: v for k, v in model.state_dict().items() if not k.startswith("averaged.")}
        )
    torch.manual_seed(3)
    direct, _ = sample_like(reference, datamodule, real, progress=False)
    assert (with_ema["x"] == direct["x"]).all()


def test_ema_travels_in_the_checkpoint_and_evaluate_samples_with_it(tmp_path):
    train(compose_train(tmp_path, ["model.ema=0.9"]))
    checkpoint = state(tmp_path / "run")
    assert any(k.startswith("averaged.module.") for k in checkpoint["state_dict"])
    restored = restore_checkpoint(tmp_path / "run")
    model = restored.model
    assert int(model.averaged.n_averaged) > 1
    averaged = dict(model.averaged.module.named_parameters())
    with model.averaged_weights():
        for name, value in model.generating_module().named_parameters():
            assert torch.equal(value, averaged[name])


def test_a_gan_averages_its_generator_only(tmp_path):
    write_lagan(tmp_path / "images.h5")
    cfg = compose_train(
        tmp_path,
        ["model=lagan", "data=jet_images", f"data.path={tmp_path / 'images.h5'}", "model.ema=0.99"],
    )
    _, model = build(cfg)
    model.attach_ema()
    assert type(model.averaged.module) is type(model.generator)
    n_generator = sum(p.numel() for p in model.generator.parameters())
    assert sum(p.numel() for p in model.averaged.module.parameters()) == n_generator
    assert all(not p.requires_grad for p in model.averaged.parameters())


# ---------------------------------------------------------------- init_from


def test_init_from_loads_weights_and_starts_at_epoch_zero_with_a_fresh_optimizer(tmp_path):
    train(compose_train(tmp_path / "first", ["trainer.max_epochs=2"]))
    first = state(tmp_path / "first" / "run")
    _, model = build(compose_train(tmp_path / "x"))
    init_weights(model, tmp_path / "first" / "run")
    for key, value in model.state_dict().items():
        assert torch.equal(value, first["state_dict"][key]), key

    path = tmp_path / "first" / "run" / "checkpoints" / "last.ckpt"
    train(compose_train(tmp_path / "second", ["trainer.max_epochs=1", f"init_from={path}"]))
    second = state(tmp_path / "second" / "run")
    assert second["epoch"] == 0
    steps_first = first["optimizer_states"][0]["state"][0]["step"]
    steps_second = second["optimizer_states"][0]["state"][0]["step"]
    assert steps_second == steps_first / 2  # one epoch of a fresh Adam, not three
    results = json.loads((tmp_path / "second" / "run" / "results.json").read_text())
    assert results["epochs_trained"] == 1


def test_init_from_refuses_weights_that_do_not_fit(tmp_path):
    train(compose_train(tmp_path / "first", ["trainer.max_epochs=1", "test=false"]))
    _, model = build(compose_train(tmp_path / "x", ["model.hidden=[32]"]))
    with pytest.raises(RunConfigError, match="do not fit model MixtureDensityNetwork"):
        init_weights(model, tmp_path / "first" / "run")
    init_weights(model, tmp_path / "first" / "run", strict=False)  # the matching ones load


# ---------------------------------------------------------------- exact resume


def test_a_requeued_toy_job_resumes_from_its_own_last_checkpoint(tmp_path):
    """A job stopped after epoch 1 and started again in its run directory (SLURM requeue:
    same overrides, no ckpt_path) ends with the weights of an uninterrupted run."""
    train(compose_train(tmp_path / "whole", ["trainer.max_epochs=3", "test=false"]))
    train(compose_train(tmp_path / "split", ["trainer.max_epochs=1", "test=false"]))
    train(compose_train(tmp_path / "split", ["trainer.max_epochs=3", "test=false"]))
    whole, split = state(tmp_path / "whole" / "run"), state(tmp_path / "split" / "run")
    assert split["epoch"] == whole["epoch"] == 2
    for key, value in whole["state_dict"].items():
        assert torch.equal(value, split["state_dict"][key]), key


def test_lagan_resumes_exactly(tmp_path):
    write_lagan(tmp_path / "images.h5", n_signal=40, n_background=40)
    common = [
        "model=lagan",
        "data=jet_images",
        f"data.path={tmp_path / 'images.h5'}",
        "data.transform=scale",
        "data.scale=100",
        "data.batch_size=20",
        "model.generator_channels=[16,8,4,4]",
        "model.discriminator_channels=[8,4,4,4]",
        "test=false",
        "callbacks.evaluation.on_validation=false",
    ]
    train(compose_train(tmp_path / "whole", [*common, "trainer.max_epochs=2"]))
    train(compose_train(tmp_path / "split", [*common, "trainer.max_epochs=1"]))
    run = tmp_path / "split" / "run"
    train(compose_train(tmp_path / "split", [*common, "trainer.max_epochs=2", f"ckpt_path={run}"]))
    whole, split = state(tmp_path / "whole" / "run"), state(run)
    assert split["global_step"] == whole["global_step"] == 2 * 3 * 2  # generator updates
    for key, value in whole["state_dict"].items():
        assert torch.equal(value, split["state_dict"][key]), key


# ---------------------------------------------------------------- metric-driven checkpoints


def test_model_checkpoint_keeps_the_epoch_with_the_best_physics_metric(tmp_path):
    run = tmp_path / "run"
    train(
        compose_train(
            tmp_path,
            [
                "trainer.max_epochs=4",
                "callbacks.model_checkpoint.monitor=val/w1_mean",
                "test_ckpt=best",
            ],
        )
    )
    with open(run / "csv" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("val/w1_mean")]
    values = dict(enumerate(float(r["val/w1_mean"]) for r in rows))  # one row per epoch
    assert sorted(values) == [0, 1, 2, 3]
    best_epoch = min(values, key=values.get)
    best = resolve_checkpoint(run, "best")
    assert best.name == f"epoch_{best_epoch:03d}.ckpt"
    recorded = torch.load(best, weights_only=True)["callbacks"]
    score = next(v["best_model_score"] for k, v in recorded.items() if "val/w1_mean" in k)
    assert float(score) == pytest.approx(values[best_epoch], rel=1e-6)


# ---------------------------------------------------------------- evaluation overrides


def test_model_options_can_change_at_evaluation(tmp_path):
    train(compose_train(tmp_path, ["trainer.max_epochs=1", "test=false"]))
    assert checkpoint_overrides(["ckpt_path=x", "model.min_scale=0.01", "seed=3"]) == [
        "ckpt_path=x",
        "++model.min_scale=0.01",
        "seed=3",
    ]
    restored = restore_checkpoint(tmp_path / "run", model_overrides={"min_scale": 0.01})
    assert restored.model.min_scale == 0.01
    from omegaconf import OmegaConf

    with pytest.raises(EvaluateConfigError, match="model.<key>=<value>"):
        model_overrides(OmegaConf.create({"model": {"_target_": "x"}}))


# ---------------------------------------------------------------- wandb


def test_a_resumed_run_keeps_its_wandb_id(tmp_path):
    first = wandb_run_id(tmp_path)
    assert len(first) == 8 and (tmp_path / "wandb_run_id").read_text().strip() == first
    assert wandb_run_id(tmp_path) == first
    assert wandb_run_id(tmp_path / "other") != first
