"""Calorimeter data family: CaloChallenge-style voxelised showers (``(N, V)`` energies in MeV).

``geometry`` describes the voxel layouts (CaloChallenge datasets 1-3, the 266-cell ATLAS photon
geometry); the shower features built on it live in :mod:`genhep.metrics.shower_features`.
``transforms`` holds the invertible preprocessing (CaloFlow layer fractions, logit, log energy,
division by the incident energy). The data module and the evaluator are imported from their
modules (``genhep.data.calorimeter.datamodule`` / ``.evaluator``), not from here: the evaluator
uses :mod:`genhep.metrics.shower_features`, which itself imports this package's geometry.
"""

from genhep.data.calorimeter.geometry import (
    ALIASES,
    GEOMETRIES,
    CaloGeometry,
    geometry_for_voxels,
    get_geometry,
)
from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.data.calorimeter.transforms import (
    TRANSFORMS,
    ConditionalCompose,
    ConditionalTransform,
    LayerFractions,
    LogEnergy,
    LogIncidentEnergy,
    Logit,
    NormalizeByIncident,
    layer_energies_to_u,
    make_calorimeter_transform,
    u_to_layer_energies,
)

__all__ = [
    "ALIASES",
    "GEOMETRIES",
    "CaloGeometry",
    "geometry_for_voxels",
    "get_geometry",
    "TRANSFORMS",
    "ConditionalCompose",
    "ConditionalTransform",
    "LayerFractions",
    "LogEnergy",
    "LogIncidentEnergy",
    "Logit",
    "NormalizeByIncident",
    "ShowerSimulator",
    "layer_energies_to_u",
    "make_calorimeter_transform",
    "u_to_layer_energies",
]
