"""Detector and image geometries that data families, generators and metrics all use.

- :mod:`genhep.geometry.calorimeter`: the voxel layouts of the CaloChallenge datasets and the
  266-cell ATLAS photon grid (binning JSON shipped in ``binning/``);
- :mod:`genhep.geometry.jet_image`: the LAGAN jet-image pixel grid.

Nothing here imports a data family or a metric, so both can import it.
"""
