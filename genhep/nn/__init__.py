"""Reusable network layers shared by the models."""

from genhep.nn.mlp import mlp

__all__ = ["mlp"]
