"""genhep: train, sample and compare deep generative models on particle-physics simulation data.

Three small contracts hold the framework together (see docs/architecture.md):

- a data family (:class:`genhep.data.GenerativeDataModule`): batches, schema, transform, evaluator;
- a generative model (:class:`genhep.models.GenerativeModel`): ``sample`` and, where tractable, ``log_prob``;
- an evaluation (:class:`genhep.callbacks.EvaluationCallback`): samples, metrics, figures, ``results.json``.
"""

__version__ = "0.1.0"
