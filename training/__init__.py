"""leadscore training: builds what `scoring` runs. Imports `scoring`, never the reverse.

synthetic   the demo CRM world with its ground truth (`training.synthetic`)
pipeline    training set -> fit + intent boosters, stacker, calibration, deal size ->
            evaluation against baselines -> quality gate (`training.pipeline`)
thresholds  handoff replay and the Optuna study of the MQL/SQL cut-offs (`training.thresholds`)
tracking    the MLflow run of a training and the registered version it makes
cli         `leadscore generate | train | tune-thresholds`, mounted onto `scoring.cli`
"""
