"""leadscore runtime: what scores leads, in the order data flows through it.

    config    one YAML file per data source, validated (`scoring.config`)
    data      the lead database: reads, imports, validation, error rows (`scoring.data`)
    features  point-in-time fit and intent features: ONE implementation (`scoring.features`)
    model     the registered model at run time: scores, stage, grade, reasons (`scoring.model`)
    serving   real-time BentoML service (`scoring.serving`)
    batch     incremental, resumable rescoring of the lead database (`scoring.batch`)
    cli       the `leadscore` command; training commands mount onto it when installed

Needs none of the training stack (scikit-learn, Optuna, SHAP, matplotlib): `training` imports
`scoring`, never the reverse; serving and batch do not import each other.
"""
