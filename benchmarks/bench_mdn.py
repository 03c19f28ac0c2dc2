"""``mdn``: the mixture density network against its Monte Carlo truth.

- ``sample``: ``MixtureDensityNetwork.sample`` (untrained: speed does not depend on
  the weights) at batch sizes 1000 and 10000, conditions drawn once beforehand.
- ``train_step``: one Adam step (forward −log p, backward, update) on a batch of 256
  events of the truth; a pool of batches is drawn beforehand, so drawing is not timed.
- ``truth_sample``: the analytic :class:`GaussianMixture` (numpy) drawing events and
  their conditions: the "Monte Carlo" baseline the model is compared with.
"""

from __future__ import annotations

import numpy as np
import torch

from genhep.data.gaussian_mixture import GaussianMixture
from genhep.models.mdn import MixtureDensityNetwork

from benchmarks.common import Context, Entry

NAME = "mdn"
DATA_SPEC = {"family": "gaussian_mixture", "event_shape": [2], "cond_dim": 1, "has_mask": False}
MODEL_PARAMS = {"n_components": 5, "hidden": [64, 64], "activation": "silu"}  # conf/model/mdn.yaml
TRUTH_PARAMS = {"dim": 2, "n_modes": 3, "conditional": True}  # conf/data/gaussian_mixture.yaml
LEARNING_RATE = 3e-3


def _sizes(ctx: Context) -> tuple[list[int], int, int]:
    """Sampling batch sizes, training batch size and number of pre-drawn training batches."""
    if ctx.quick:
        return [100], 32, 2
    return [1000, 10000], 256, 16


def benchmarks(ctx: Context) -> list[Entry]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    device = ctx.torch_device
    sample_sizes, train_batch, n_batches = _sizes(ctx)
    truth = GaussianMixture(**TRUTH_PARAMS)
    model = MixtureDensityNetwork(DATA_SPEC, **MODEL_PARAMS).to(device)
    entries = []

    model.eval()
    for n in sample_sizes:
        cond = torch.empty(n, 1, device=device).uniform_(-1.0, 1.0)
        timing = ctx.measure(lambda n=n, cond=cond: model.sample(n, cond=cond))
        entries.append(ctx.entry(NAME, "sample", "samples_per_s", timing, n, params=MODEL_PARAMS))

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    batches = []
    for _ in range(n_batches):
        events = truth.sample(train_batch, rng)
        batches.append(
            {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in events.items()}
        )
    step_index = 0
    losses: list[torch.Tensor] = []

    def train_step() -> None:
        nonlocal step_index
        batch = batches[step_index % n_batches]
        step_index += 1
        optimizer.zero_grad(set_to_none=True)
        loss = -model.log_prob(batch["x"], batch["cond"]).mean()
        loss.backward()
        optimizer.step()
        if step_index % 64 == 0:  # keep a few losses to check, without syncing every step
            losses.append(loss.detach())

    timing = ctx.measure(train_step)
    final = float(loss_of(model, batches[0]))
    if not np.isfinite(final) or any(not torch.isfinite(v) for v in losses):
        raise RuntimeError(f"MDN training diverged during the benchmark (loss {final})")
    params = {**MODEL_PARAMS, "optimizer": "adam", "lr": LEARNING_RATE, "steps": step_index}
    entries.append(ctx.entry(NAME, "train_step", "steps_per_s", timing, train_batch, params=params))

    for n in sample_sizes:
        timing = ctx.measure(lambda n=n: truth.sample(n, rng), device="cpu")
        entries.append(
            ctx.entry(
                NAME,
                "truth_sample",
                "events_per_s",
                timing,
                n,
                device="cpu",
                params={**TRUTH_PARAMS, "baseline": "monte_carlo"},
            )
        )
    return entries


@torch.no_grad()
def loss_of(model: MixtureDensityNetwork, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return -model.log_prob(batch["x"], batch["cond"]).mean()
