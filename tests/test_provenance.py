"""results.json records the code that made it: genhep's version and commit, the stack's versions."""

import json
import platform
import subprocess

import numpy
import pytest
import pytorch_lightning
import torch

import genhep
from genhep.train import train
from genhep.utils.run_info import git_commit

from conftest import REPO_ROOT, compose_train


def git(root, *args):
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def checkout_commit(root):
    """``git rev-parse HEAD`` of ``root``, ``-dirty`` if tracked files differ; None outside git."""
    try:
        head = git(root, "rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return None
    clean = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"]).returncode == 0
    return head if clean else f"{head}-dirty"


def test_results_record_versions_and_commit(tmp_path):
    train(compose_train(tmp_path, ["trainer.max_epochs=1"]))
    recorded = json.loads((tmp_path / "run" / "results.json").read_text())["provenance"]
    assert recorded == {
        "genhep": genhep.__version__,
        "commit": checkout_commit(REPO_ROOT),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "numpy": numpy.__version__,
    }


def test_git_commit_marks_a_dirty_tree_and_is_none_outside_a_checkout(tmp_path, monkeypatch):
    assert git_commit(tmp_path) is None  # not a checkout (an installed genhep)
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    try:
        git(repo, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git")
    (repo / "pkg" / "a.py").write_text("x = 1\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git(repo, "rev-parse", "HEAD")
    (repo / "untracked.txt").write_text("not part of the source\n")
    assert git_commit.__wrapped__(repo) == head  # __wrapped__: past the per-process cache
    assert git_commit.__wrapped__(repo / "pkg") is None  # inside someone else's checkout
    (repo / "pkg" / "a.py").write_text("x = 2\n")
    assert git_commit.__wrapped__(repo) == f"{head}-dirty"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no git at all: None, no error
    assert git_commit.__wrapped__(repo) is None
