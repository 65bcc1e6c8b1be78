"""The training pipeline: `dataset` (one row per closed lead, featurised point in time, time
folds, revenue weights) -> `fit` (fit and intent boosters, stacker, calibration, deal size) ->
`baselines` and `evaluate` (test-fold metrics, quality gate) -> `plots`; `run` is the whole
pipeline as one call.
"""

from training.pipeline.run import TrainResult, run_training

__all__ = ["TrainResult", "run_training"]
