"""`leadscore`, the command line (`main.app`). The runtime commands live here and need only the
runtime: `data` (import, summary, features), `registry` (models, promote, rollback, export),
`batch` (rescore) and `serving` (serve); `common` holds what they share. The training commands
(generate, train, tune-thresholds) come from `training.cli`, mounted by `main` when the training
extra is installed.
"""
