"""``genhep.conf`` is this checkout's ``conf/``, whichever genhep the environment installed.

An editable install maps ``genhep.conf`` to the ``conf/`` of the tree it was installed
from; a second checkout (a git worktree) sharing that environment imports its own
``genhep`` (first on ``sys.path``) but would compose the other tree's configs. The
finder below, first on ``sys.meta_path``, answers ``genhep.conf`` with this checkout's
``conf/``. ``conftest.py`` installs it in the test process and ``sitecustomize.py`` (on
``run_cli``'s ``PYTHONPATH``) in every ``genhep`` command the tests spawn.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "conf"


class CheckoutConf(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "genhep.conf":
            return None
        return importlib.util.spec_from_file_location(
            fullname, CONF / "__init__.py", submodule_search_locations=[str(CONF)]
        )


def install() -> None:
    """Put the finder first (once) and drop a ``genhep.conf`` imported from elsewhere."""
    if not any(isinstance(f, CheckoutConf) for f in sys.meta_path):
        sys.meta_path.insert(0, CheckoutConf())
    loaded = sys.modules.get("genhep.conf")
    if loaded is not None and Path(loaded.__file__).resolve().parent != CONF:
        del sys.modules["genhep.conf"]
        parent = sys.modules.get("genhep")
        if parent is not None and getattr(parent, "conf", None) is loaded:
            del parent.conf
