"""The CaloChallenge file format: ``incident_energies`` (N, 1) and ``showers`` (N, V), MeV."""

from __future__ import annotations

from genhep.data.schema import ArraySpec
from genhep.geometry.calorimeter import CaloGeometry

#: the incident energies of every calorimeter file (showers or response): ``(N, 1)`` MeV, > 0
INCIDENT_ENERGIES = ArraySpec(
    "incident_energies",
    ("N", 1),
    min_value=0.0,
    exclusive_min=True,
    description="incident energy of each shower in MeV, > 0",
)


def calorimeter_schema(geometry: CaloGeometry) -> list[ArraySpec]:
    """The two arrays of a CaloChallenge-format file for ``geometry``."""
    return [
        INCIDENT_ENERGIES,
        ArraySpec(
            "showers",
            ("N", geometry.n_voxels),
            min_value=0.0,
            description=f"voxel energies in MeV, >= 0, {geometry.n_voxels} voxels of "
            f"geometry {geometry.name}",
        ),
    ]
