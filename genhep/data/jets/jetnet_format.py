"""The JetNet file format (Kansal et al. 2106.11535; Zenodo 6975118 / 6975117): schema, value
checks, reader, file names and jet types. Shared by the data family
(:mod:`genhep.data.jets.jetnet`) and the Monte Carlo generator (:mod:`genhep.data.jets.pythia_jetnet`).

One file per jet type, ``g.hdf5 q.hdf5 t.hdf5 w.hdf5 z.hdf5`` (30 particles) or ``g150.hdf5 ...``
(150), each with

- ``particle_features`` (N, n, 4) float = ``[etarel, phirel, ptrel, mask]``, zero-padded,
  particles ordered by pT; ``ptrel >= 0``, ``mask`` in {0, 1}, the features of a particle with
  ``mask`` 0 all zero;
- ``jet_features`` (N, 4) float = ``[pt (GeV), eta, mass (GeV), num_particles]``.
"""

from __future__ import annotations

import os

import numpy as np

from genhep.data.schema import ArraySpec, SchemaError, read_hdf5

__all__ = [
    "JET_FEATURES",
    "JET_TYPES",
    "PARTICLE_FEATURES",
    "check_jetnet_values",
    "jetnet_file_name",
    "jetnet_schema",
    "read_jetnet_file",
]

JET_TYPES = ("g", "q", "t", "w", "z")
PARTICLE_FEATURES = ("etarel", "phirel", "ptrel", "mask")
JET_FEATURES = ("pt", "eta", "mass", "num_particles")


def jetnet_schema(num_particles: int | None = None) -> list[ArraySpec]:
    """The arrays of one JetNet file (``num_particles``: 30 or 150; ``None``: any)."""
    return [
        ArraySpec(
            "particle_features",
            ("N", num_particles, 4),
            description="[etarel, phirel, ptrel >= 0, mask in {0, 1}] per particle, "
            "all four zero where mask is 0",
        ),
        ArraySpec(
            "jet_features",
            ("N", 4),
            description="[pt GeV >= 0, eta, mass GeV, num_particles >= 0] per jet",
        ),
    ]


def _column_error(path: str, key: str, spec: ArraySpec, problem: str) -> SchemaError:
    return SchemaError(f"{path}: key '{key}': {problem}; expected {spec.expected()}")


def check_jetnet_values(arrays: dict[str, np.ndarray], source: str) -> None:
    """Column checks the generic schema cannot express: ptrel >= 0, mask in {0, 1}, padding
    (mask 0) all zero, jet pt and num_particles >= 0. Each error names ``source``, the key,
    the first offending jet and what was expected."""
    specs = {s.key: s for s in jetnet_schema()}
    pf, jf = arrays.get("particle_features"), arrays.get("jet_features")
    if pf is not None:
        spec = specs["particle_features"]
        ptrel, mask = pf[..., 2], pf[..., 3]
        if ptrel.size and ptrel.min() < 0:
            jet, particle = (int(i) for i in np.argwhere(ptrel < 0)[0])
            raise _column_error(
                source,
                "particle_features",
                spec,
                f"ptrel (feature 2) is negative ({ptrel[jet, particle].item()!r}), first at jet "
                f"{jet} (particle {particle})",
            )
        bad = (mask != 0) & (mask != 1)
        if bad.any():
            jet, particle = (int(i) for i in np.argwhere(bad)[0])
            raise _column_error(
                source,
                "particle_features",
                spec,
                f"mask (feature 3) holds {mask[jet, particle].item()!r}, not 0 or 1, first at jet "
                f"{jet} (particle {particle}; {int(bad.any(axis=1).sum())} jets affected)",
            )
        # beyond its mask a particle is padding: every feature exactly zero
        features = pf[..., :3]
        beyond = (mask == 0) & (features != 0).any(axis=-1)
        if beyond.any():
            jet, particle = (int(i) for i in np.argwhere(beyond)[0])
            values = ", ".join(
                f"{name} {features[jet, particle, i].item()!r}"
                for i, name in enumerate(PARTICLE_FEATURES[:3])
            )
            raise _column_error(
                source,
                "particle_features",
                spec,
                f"a particle beyond the mask (mask 0) has non-zero features ({values}), first "
                f"at jet {jet} (particle {particle}; {int(beyond.any(axis=1).sum())} jets "
                "affected); padded particles must be all zero",
            )
    if jf is not None:
        spec = specs["jet_features"]
        for column, name in ((0, "pt"), (3, "num_particles")):
            values = jf[:, column]
            if values.size and values.min() < 0:
                jet = int(np.argmin(values))
                raise _column_error(
                    source,
                    "jet_features",
                    spec,
                    f"{name} (column {column}) is negative ({values[jet]!r}) at jet {jet}",
                )


def read_jetnet_file(path: str | os.PathLike[str], num_particles: int | None = None) -> dict:
    """Both arrays of one JetNet file, validated (file, key and expectation in every error)."""
    schema = jetnet_schema()
    arrays = read_hdf5(path, schema)
    n_file = arrays["particle_features"].shape[1]
    if num_particles is not None and n_file < num_particles:
        raise SchemaError(
            f"{path}: key 'particle_features': has {n_file} particles per jet but "
            f"data.num_particles = {num_particles}; expected {schema[0].expected()} "
            f"with at least {num_particles} particles"
        )
    check_jetnet_values(arrays, str(path))
    return arrays


def jetnet_file_name(jet_type: str, num_particles: int = 30) -> str:
    """JetNet's file name: ``g.hdf5``, or ``g150.hdf5`` above 30 particles."""
    return f"{jet_type}{'150' if num_particles > 30 else ''}.hdf5"
