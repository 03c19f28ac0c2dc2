"""Jet data families: LAGAN-style jet images (:mod:`genhep.data.jets.images`)."""
