"""Data families: LightningDataModules with a schema, an invertible transform and an evaluator."""

from genhep.data.base import DataSpec, GenerativeDataModule
from genhep.data.schema import ArraySpec, SchemaError

__all__ = ["ArraySpec", "DataSpec", "GenerativeDataModule", "SchemaError"]
