"""Generative models: LightningModules implementing the model contract."""

from genhep.models.adversarial import AdversarialModel
from genhep.models.base import Generated, GenerativeModel, IncompatibleDataError, check_compatible
from genhep.models.likelihood import LikelihoodModel

__all__ = [
    "AdversarialModel",
    "GenerativeModel",
    "Generated",
    "IncompatibleDataError",
    "LikelihoodModel",
    "check_compatible",
]
