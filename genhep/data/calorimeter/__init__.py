"""Calorimeter data family: CaloChallenge-style voxelised showers (``(N, V)`` energies in MeV).

The voxel layouts live in :mod:`genhep.geometry.calorimeter` (re-exported here); ``transforms``
holds the invertible preprocessing (CaloFlow layer fractions, logit, log energy, division by the
incident energy); ``simulator`` and ``generate`` make parametric showers. The data module is
imported from :mod:`genhep.data.calorimeter.datamodule`, its evaluator from
:mod:`genhep.evaluation.calorimeter`.
"""

from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.data.calorimeter.transforms import (
    TRANSFORMS,
    LayerFractions,
    LogEnergy,
    LogIncidentEnergy,
    Logit,
    NormalizeByIncident,
    layer_energies_to_u,
    make_calorimeter_transform,
    u_to_layer_energies,
)
from genhep.geometry.calorimeter import (
    ALIASES,
    GEOMETRIES,
    CaloGeometry,
    geometry_for_voxels,
    get_geometry,
)

__all__ = [
    "ALIASES",
    "GEOMETRIES",
    "CaloGeometry",
    "geometry_for_voxels",
    "get_geometry",
    "TRANSFORMS",
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
