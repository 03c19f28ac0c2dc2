"""Classifier two-sample test: AUC and JSD of a small network trained real vs generated.

The protocol follows the CaloChallenge 2022 evaluation (``code/evaluate.py`` of the
CaloChallenge homepage repository): the two samples, of equal size, are split class by class
into train / validation / test; real is label 1 and generated label 0; an MLP with a single logit
is trained with ``BCEWithLogitsLoss`` and Adam, keeping the weights of the best validation epoch;
on the held-out test split it reports

    AUC                       (rank statistic of the test outputs)
    JSD = (ln 2 − BCE) / ln 2 (BCE: mean binary cross-entropy of the test outputs, natural log)

JSD is the classifier's lower bound on the Jensen–Shannon divergence in bits: 0 when the
classifier cannot tell the samples apart (BCE = ln 2), 1 when it separates them perfectly. It
can come out slightly negative on identical samples (a held-out BCE above ln 2).

CaloChallenge's final numbers are computed after an isotonic calibration of the sigmoid outputs
(``IsotonicRegression(out_of_bounds='clip', y_min=1e-6, y_max=1-1e-6)`` fitted on the split it
also used for model selection): ``calibrate=True`` does exactly that, fitted on the validation
split. It is off by default: on 10k-row samples the isotonic staircase over-fits the validation
split and its 1e-6 end values make the test BCE noisy, so JSD scatters below zero (identical
Gaussians, 10 features, 8 seeds: JSD −0.032…0.000 calibrated vs −0.0015…0.000 uncalibrated;
a 0.3σ shift, true JSD ≈ 0.016 bits: −0.006…0.010 vs 0.009…0.017). Early stopping on the
validation BCE already leaves the outputs close to calibrated.

Other differences from CaloChallenge, by design: inputs are standardised with the training
split's mean and std; the network is small (hidden widths 64, 64, LeakyReLU) and the model is
chosen by the lowest validation BCE with early stopping (CaloChallenge: 512-wide, up to 50
epochs, best validation accuracy); unequal samples are first subsampled to the smaller size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from genhep.metrics.bootstrap import bootstrap_std

LN2 = math.log(2.0)


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve from the Mann–Whitney rank statistic.

    AUC = (Σ ranks of positives − n₊(n₊ + 1)/2) / (n₊ n₋) with average ranks for tied scores,
    i.e. P(score₊ > score₋) + ½ P(score₊ = score₋). ``labels`` are 0/1, shape ``(n,)``.
    """
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in shape: {labels.shape} vs {scores.shape}")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both classes among the labels")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_cross_entropy(labels: ArrayLike, probs: ArrayLike, eps: float = 1e-12) -> float:
    """Mean binary cross-entropy in nats of probabilities ``probs`` for 0/1 ``labels``."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    probs = np.clip(np.asarray(probs, dtype=np.float64).ravel(), eps, 1.0 - eps)
    return float(-np.mean(labels * np.log(probs) + (1.0 - labels) * np.log1p(-probs)))


def jsd_from_bce(bce: float) -> float:
    """CaloChallenge's JSD estimate in bits: (ln 2 − BCE) / ln 2."""
    return (LN2 - bce) / LN2


def _pava(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit to ``y`` (pool adjacent violators)."""
    values: list[float] = []
    weights: list[float] = []
    counts: list[int] = []
    for yi, wi in zip(y, w, strict=True):
        values.append(float(yi))
        weights.append(float(wi))
        counts.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            v, wt, c = values.pop(), weights.pop(), counts.pop()
            total = weights[-1] + wt
            values[-1] = (values[-1] * weights[-1] + v * wt) / total
            weights[-1] = total
            counts[-1] += c
    return np.repeat(values, counts)


class IsotonicCalibrator:
    """Monotone map from classifier scores to probabilities (as sklearn's ``IsotonicRegression``
    with ``out_of_bounds='clip'``): tied scores are pooled, a non-decreasing step function is
    fitted by PAVA, clipped to ``[y_min, y_max]`` and linearly interpolated between the fitted
    scores; scores outside the fitted range take the end values."""

    def __init__(self, y_min: float = 1e-6, y_max: float = 1.0 - 1e-6):
        self.y_min, self.y_max = y_min, y_max

    def fit(self, scores: ArrayLike, labels: ArrayLike) -> IsotonicCalibrator:
        scores = np.asarray(scores, dtype=np.float64).ravel()
        labels = np.asarray(labels, dtype=np.float64).ravel()
        self.x_, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=labels) / counts
        self.y_ = np.clip(_pava(means, counts.astype(np.float64)), self.y_min, self.y_max)
        return self

    def predict(self, scores: ArrayLike) -> np.ndarray:
        return np.interp(np.asarray(scores, dtype=np.float64), self.x_, self.y_)


def _mlp(n_in: int, hidden: tuple[int, ...]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for width in hidden:
        layers += [torch.nn.Linear(n_in, width), torch.nn.LeakyReLU()]
        n_in = width
    layers.append(torch.nn.Linear(n_in, 1))
    return torch.nn.Sequential(*layers)


def _split_indices(
    n: int, val_fraction: float, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]


def _with_autograd(fn: Callable) -> Callable:
    """``fn`` run with autograd on, also when called under ``torch.inference_mode`` or
    ``no_grad`` (an evaluation callback inside Lightning's validation or test loop)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.inference_mode(False), torch.enable_grad():
            return fn(*args, **kwargs)

    return wrapper


@_with_autograd
def fit_classifier(
    x: np.ndarray,
    y: np.ndarray,
    hidden: tuple[int, ...] = (64, 64),
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    patience: int = 5,
    val_fraction: float = 0.2,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """Train a binary MLP classifier on ``x`` ``(n, ...)``, labels ``y`` in {0, 1}.

    Early stopping (``patience`` epochs without a lower validation BCE; the best weights are
    kept) uses ``validation`` = ``(x_val, y_val)`` if given, else a stratified
    ``val_fraction`` of ``x``. Features are flattened and standardised with the training
    events' mean and std. Returns a function mapping features to probabilities of label 1.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64)
    if validation is None:
        rng = np.random.default_rng(seed)
        train_parts, val_parts = [], []
        for c in (0, 1):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_val = int(round(len(idx) * val_fraction))
            val_parts.append(idx[:n_val])
            train_parts.append(idx[n_val:])
        train, val = np.concatenate(train_parts), np.concatenate(val_parts)
        validation = (x[val], y[val])
        x, y = x[train], y[train]
    if min(len(x), len(validation[0])) == 0 or len(np.unique(y)) < 2:
        raise ValueError(
            f"samples too small for the split: {len(x)} train, {len(validation[0])} val"
        )

    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def standardised(features: np.ndarray) -> torch.Tensor:
        flat = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        return torch.as_tensor((flat - mean) / std, dtype=torch.float32)

    x_tr, y_tr = standardised(x), torch.as_tensor(y, dtype=torch.float32)
    x_val = standardised(validation[0])
    y_val = torch.as_tensor(np.asarray(validation[1], dtype=np.float64), dtype=torch.float32)
    train = np.arange(len(x))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _mlp(x.shape[1], tuple(hidden))
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        best_loss, best_state, bad_epochs = math.inf, None, 0
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(train))
            for start in range(0, len(train), batch_size):
                batch = order[start : start + batch_size]
                optimiser.zero_grad()
                loss = loss_fn(model(x_tr[batch]).squeeze(1), y_tr[batch])
                loss.backward()
                optimiser.step()
            model.eval()
            with torch.no_grad():
                val_loss = loss_fn(model(x_val).squeeze(1), y_val).item()
            if val_loss < best_loss - 1e-6:
                best_loss, bad_epochs = val_loss, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
                if bad_epochs >= patience:
                    break
    model.load_state_dict(best_state)
    model.eval()

    def predict(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(model(standardised(features)).squeeze(1).double()).numpy()

    return predict


def _train_and_score(
    x: np.ndarray,
    y: np.ndarray,
    hidden: tuple[int, ...],
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    val_fraction: float,
    test_fraction: float,
    calibrate: bool,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Train one classifier; return the test labels and the test probabilities."""
    rng = np.random.default_rng(seed)
    parts = [_split_indices(int((y == c).sum()), val_fraction, test_fraction, rng) for c in (0, 1)]
    class_idx = [np.flatnonzero(y == c) for c in (0, 1)]
    train, val, test = (
        np.concatenate([class_idx[c][parts[c][k]] for c in (0, 1)]) for k in range(3)
    )
    if min(len(train), len(val), len(test)) == 0:
        raise ValueError(
            f"samples too small for the split: {len(train)} train, {len(val)} val, {len(test)} test"
        )
    predict = fit_classifier(
        x[train], y[train], hidden, epochs, batch_size, lr, patience,
        seed=seed, validation=(x[val], y[val]),
    )  # fmt: skip
    p_test = predict(x[test])
    if calibrate:
        p_test = IsotonicCalibrator().fit(predict(x[val]), y[val]).predict(p_test)
    return y[test], p_test


def transfer_auc(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    n_bootstrap: int = 100,
    seed: int = 0,
    **fit_options,
) -> tuple[float, float]:
    """AUC on ``(test_x, test_y)`` of a classifier trained on ``(train_x, train_y)``.

    The SARM paper's classification test: train a signal-vs-background classifier on
    generated events, test it on Monte Carlo; compare with one trained on Monte Carlo.
    Error: standard deviation over ``n_bootstrap`` resamples of the test set.
    """
    predict = fit_classifier(np.asarray(train_x), np.asarray(train_y), seed=seed, **fit_options)
    labels, probs = np.asarray(test_y, dtype=np.float64), predict(np.asarray(test_x))
    error = bootstrap_std(
        _two_class(roc_auc), labels, probs, n_bootstrap=n_bootstrap, seed=[seed, 7], paired=True
    )
    return roc_auc(labels, probs), error


def _auc_jsd(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    return roc_auc(labels, probs), jsd_from_bce(binary_cross_entropy(labels, probs))


def _two_class(statistic: Callable[[np.ndarray, np.ndarray], Any]):
    """``statistic(labels, probs)``, or ``None`` (resample dropped) when only one class is in."""

    def on_both_classes(labels: np.ndarray, probs: np.ndarray) -> Any:
        return None if labels.min() == labels.max() else statistic(labels, probs)

    return on_both_classes


def classifier_two_sample_test(
    real: ArrayLike,
    generated: ArrayLike,
    hidden: tuple[int, ...] = (64, 64),
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    patience: int = 5,
    val_fraction: float = 0.2,
    test_fraction: float = 0.3,
    calibrate: bool = False,
    n_bootstrap: int = 100,
    n_repeats: int = 1,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """AUC and JSD of an MLP trained to tell ``real`` ``(n, d)`` from ``generated`` ``(m, d)``.

    The larger sample is first subsampled (without replacement) to the size of the smaller one,
    so the classes are balanced and BCE = ln 2 is the no-information baseline. Each class is
    split into train / validation (``val_fraction``) / test (``test_fraction``). Features are
    standardised with the training split's mean and std. The MLP (``hidden`` widths, LeakyReLU,
    one logit) is trained with Adam and ``BCEWithLogitsLoss`` for at most ``epochs`` epochs,
    stopping after ``patience`` epochs without a lower validation BCE and keeping the best
    weights. With ``calibrate`` the test outputs first go through CaloChallenge's isotonic
    calibration, fitted on the validation split. See the module docstring for the formulae and
    why calibration is off by default.

    Errors: with ``n_repeats == 1``, the standard deviation of AUC and JSD over ``n_bootstrap``
    resamples of the test set (classifier and calibration fixed: the test-sample statistical
    error, not the training variance). With ``n_repeats > 1``, the classifier is retrained
    with seeds ``seed, seed+1, ...`` (new subsample, split and initialisation each time); the
    value is the mean and the error the standard deviation over repeats.

    Returns ``{"auc": (value, error), "jsd": (value, error)}``. Runs on CPU; a few seconds for
    10k × 10 features per sample.
    """
    x_real = np.asarray(real, dtype=np.float64)
    x_gen = np.asarray(generated, dtype=np.float64)
    if x_real.ndim == 1:
        x_real, x_gen = x_real[:, None], x_gen.reshape(-1, 1)
    if x_real.ndim != 2 or x_gen.ndim != 2 or x_real.shape[1] != x_gen.shape[1]:
        raise ValueError(
            f"real and generated must be (n, d) with the same d, got {x_real.shape} and {x_gen.shape}"
        )
    if not (np.all(np.isfinite(x_real)) and np.all(np.isfinite(x_gen))):
        raise ValueError("real and generated must be finite")
    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"bad split fractions: val {val_fraction}, test {test_fraction}")

    n = min(len(x_real), len(x_gen))
    results = []
    for r in range(max(1, n_repeats)):
        rng = np.random.default_rng([seed, r])
        xr = x_real[rng.choice(len(x_real), n, replace=False)] if len(x_real) > n else x_real
        xg = x_gen[rng.choice(len(x_gen), n, replace=False)] if len(x_gen) > n else x_gen
        x = np.concatenate([xr, xg])
        y = np.concatenate([np.ones(n), np.zeros(n)])
        labels, probs = _train_and_score(
            x, y, tuple(hidden), epochs, batch_size, lr, patience,
            val_fraction, test_fraction, calibrate, seed + r,
        )  # fmt: skip
        results.append((labels, probs))

    if n_repeats > 1:
        values = np.array([_auc_jsd(labels, probs) for labels, probs in results])
        mean, err = values.mean(axis=0), values.std(axis=0, ddof=1)
        return {"auc": (float(mean[0]), float(err[0])), "jsd": (float(mean[1]), float(err[1]))}

    labels, probs = results[0]
    auc, jsd = _auc_jsd(labels, probs)
    err = bootstrap_std(
        _two_class(_auc_jsd),
        labels,
        probs,
        n_bootstrap=n_bootstrap,
        seed=[seed, 1_000_003],
        paired=True,
        shape=(2,),
    )
    return {"auc": (auc, float(err[0])), "jsd": (jsd, float(err[1]))}
