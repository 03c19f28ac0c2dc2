"""The Hydra config tree, importable as ``genhep.conf`` (see setup.py)."""
