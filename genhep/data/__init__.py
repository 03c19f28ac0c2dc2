"""Data families: LightningDataModules with a schema, an invertible transform and an evaluator."""

from genhep.data.base import GenerativeDataModule
from genhep.data.schema import ArraySpec, SchemaError
from genhep.spec import DataSpec

__all__ = ["ArraySpec", "DataSpec", "GenerativeDataModule", "SchemaError"]
