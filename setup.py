"""Package list for setuptools (metadata lives in pyproject.toml).

The Hydra tree lives at the repository root (``conf/``) and ships inside the
package as ``genhep.conf``, so an installed genhep finds its configs; that
mapping is the one thing pyproject.toml cannot express next to ``find``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["genhep", "genhep.*"]) + ["genhep.conf"],
    package_dir={"genhep.conf": "conf"},
)
