"""Calorimeter data family: CaloChallenge-style voxelised showers (``(N, V)`` energies in MeV).

``geometry`` describes the voxel layouts (CaloChallenge datasets 1-3, the 266-cell ATLAS photon
geometry); the shower features built on it live in :mod:`genhep.metrics.shower_features`.
"""

from genhep.data.calorimeter.geometry import (
    ALIASES,
    GEOMETRIES,
    CaloGeometry,
    geometry_for_voxels,
    get_geometry,
)

__all__ = ["ALIASES", "GEOMETRIES", "CaloGeometry", "geometry_for_voxels", "get_geometry"]
