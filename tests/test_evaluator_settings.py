"""Evaluator settings come from ``data.evaluator`` and are checked; progress is opt-in."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import yaml
from hydra.utils import instantiate
from jetnet_files import make_jets

from genhep.evaluation.base import EvaluatorSettingError
from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.evaluation.gaussian_mixture import GaussianMixtureEvaluator
from genhep.evaluation.jet_images import JetImageEvaluator
from genhep.evaluation.jetnet import JetNetEvaluator
from genhep.utils.progress import progress_step

from conftest import REPO_ROOT, compose_train

FAMILIES = sorted(p.stem for p in (REPO_ROOT / "conf" / "data").glob("*.yaml"))

#: a setting each family's evaluator has, and a value that is not its default
CHANGED = {
    "calorimeter": ("n_bootstrap", 3),
    "gaussian_mixture": ("n_bootstrap", 3),
    "jet_images": ("n_bootstrap", 3),
    "jetnet": ("w1_batch_size", 500),
}


EVALUATORS = {
    "calorimeter": CalorimeterEvaluator,
    "gaussian_mixture": GaussianMixtureEvaluator,
    "jet_images": JetImageEvaluator,
    "jetnet": JetNetEvaluator,
}


def _yaml_settings(family: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "conf" / "data" / f"{family}.yaml").read_text())["evaluator"]


def test_every_family_is_covered():
    assert sorted(CHANGED) == sorted(EVALUATORS) == FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_yaml_documents_exactly_the_evaluator_settings_with_their_defaults(tmp_path, family):
    cfg = compose_train(tmp_path, [f"data={family}"])
    evaluator_class = EVALUATORS[family]
    assert type(instantiate(cfg.data).evaluator()) is evaluator_class
    settings = _yaml_settings(family)
    assert sorted(settings) == sorted(evaluator_class.settings())
    defaults = inspect.signature(evaluator_class.__init__).parameters
    for key, value in settings.items():
        default = defaults[key].default
        assert value == ({} if default is None and key.endswith("_kwargs") else default), key


@pytest.mark.parametrize("family", FAMILIES)
def test_settings_reach_the_evaluator_from_the_config(tmp_path, family):
    key, value = CHANGED[family]
    cfg = compose_train(tmp_path, [f"data={family}", f"data.evaluator.{key}={value}"])
    evaluator = instantiate(cfg.data).evaluator()
    assert getattr(evaluator, key) == value
    assert evaluator.seed == _yaml_settings(family)["seed"]  # the rest kept


@pytest.mark.parametrize("family", FAMILIES)
def test_validation_evaluator_changes_settings_at_validation_only(tmp_path, family):
    from genhep.callbacks.evaluation import EvaluationCallback

    key, value = CHANGED[family]
    datamodule = instantiate(compose_train(tmp_path, [f"data={family}"]).data)
    callback = EvaluationCallback(str(tmp_path), validation_evaluator={key: value})
    assert getattr(callback.evaluator(datamodule, "val"), key) == value
    assert getattr(callback.evaluator(datamodule, "test"), key) == _yaml_settings(family)[key]
    typo = EvaluationCallback(str(tmp_path), validation_evaluator={"n_boostrap": 3})
    with pytest.raises(EvaluatorSettingError, match="callbacks.evaluation.validation_evaluator"):
        typo.evaluator(datamodule, "val")


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_setting_names_the_key_and_the_valid_ones(tmp_path, family):
    cfg = compose_train(tmp_path, [f"data={family}", "+data.evaluator.n_boostrap=3"])
    datamodule = instantiate(cfg.data)
    with pytest.raises(EvaluatorSettingError, match="data.evaluator.n_boostrap") as error:
        datamodule.evaluator()
    valid = EVALUATORS[family].settings()
    assert f"valid settings: {', '.join(valid)}" in str(error.value)
    assert "seed" in valid


@pytest.mark.parametrize(
    ("evaluator_class", "args", "from_data"),
    [
        (CalorimeterEvaluator, ("ds1_photons",), "geometry"),
        (GaussianMixtureEvaluator, (None,), "truth"),
        (JetImageEvaluator, (), None),
        (JetNetEvaluator, (), "jet_type"),
    ],
)
def test_constructor_rejects_unknown_keys(evaluator_class, args, from_data):
    with pytest.raises(EvaluatorSettingError, match=r"data\.evaluator\.bogus.*valid settings"):
        evaluator_class(*args, bogus=1)
    assert "seed" in evaluator_class.settings() and "self" not in evaluator_class.settings()
    if from_data:  # filled in by the data module: not a setting
        assert from_data not in evaluator_class.settings()


def _jets(n, seed):
    pf, _ = make_jets(n, seed=seed)
    return {"x": pf[..., :3].astype(np.float64), "mask": pf[..., 3] > 0}


def test_progress_off_prints_nothing_and_on_names_the_steps(capfd):
    samples = [_jets(200, seed) for seed in (40, 41, 42)]
    evaluator = JetNetEvaluator(w1_batch_size=200, w1_num_batches=2, use_efps=False)
    assert evaluator.progress is False  # off unless a caller turns it on
    evaluator.evaluate(*samples)
    assert capfd.readouterr() == ("", "")

    evaluator.progress = True
    evaluator.evaluate(*samples)
    shown = capfd.readouterr().out
    assert "W1M and W1P" in shown and "FPD and KPD" in shown


def test_progress_step_counts_and_stays_silent_when_disabled(capfd):
    with progress_step("resamples", total=3, enabled=False) as advance:
        advance()
    assert capfd.readouterr() == ("", "")
    with progress_step("resamples", total=3) as advance:
        for _ in range(3):
            advance()
    assert "resamples" in capfd.readouterr().out
