"""Generative models: LightningModules implementing the model contract."""

from genhep.models.base import GenerativeModel, IncompatibleDataError, check_compatible

__all__ = ["GenerativeModel", "IncompatibleDataError", "check_compatible"]
