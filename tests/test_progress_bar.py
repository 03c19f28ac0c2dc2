"""The progress bar updates at most ``refresh_rate`` times a second (and on an epoch's last batch)."""

from __future__ import annotations

import types

import pytest
from pytorch_lightning.callbacks import RichProgressBar

import genhep.callbacks.progress as progress
from genhep.callbacks import ProgressBar


@pytest.mark.parametrize("refresh_rate", [10, 0])
def test_training_updates_are_throttled_in_time(monkeypatch, refresh_rate):
    updates, clock = [], types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(ProgressBar, "total_train_batches", property(lambda self: 50))
    monkeypatch.setattr(
        RichProgressBar, "on_train_batch_end", lambda self, *args: updates.append(args[-1])
    )
    bar = ProgressBar(refresh_rate=refresh_rate)
    for batch_idx in range(50):  # a batch every 30 ms
        bar.on_train_batch_end(None, None, None, None, batch_idx)
        clock.now += 0.03
    if refresh_rate == 0:  # hidden: Lightning's bar (which then does nothing) sees every batch
        assert updates == list(range(50))
    else:  # the first batch, then one every 4 batches (>= 0.1 s), and the last
        assert updates == [*range(0, 50, 4), 49]
