"""`training.lightgbm`: LightGBM parameters a team sets, checked when the config loads, not
after minutes of training."""

from __future__ import annotations

import re

import numpy as np

# What the recipe decides itself: the objective of each booster (binary for the win models,
# regression for the deal size) and the rounds, which cross-validation chooses.
RECIPE_OWNS = {"objective", "num_iterations", "early_stopping_round"}


def checked(settings: dict) -> dict:
    """`settings` if LightGBM takes every name and value; else a ValueError naming them."""
    if not settings:
        return settings
    import lightgbm as lgb  # only when a config sets some: the import takes a while

    canonical = {
        alias: name
        for name, aliases in lgb.basic._ConfigAliases._get_all_param_aliases().items()
        for alias in (name, *aliases)
    }
    for key in settings:
        if key not in canonical:
            raise ValueError(f"{key!r} is not a LightGBM parameter")
        if canonical[key] in RECIPE_OWNS:
            raise ValueError(f"{key!r} is set by the training recipe, not the config")
    _try_booster(lgb, settings)
    return settings


def _try_booster(lgb, settings: dict) -> None:
    """A booster on four rows with these settings: LightGBM's own checks of each value."""
    rows = np.arange(4.0).reshape(-1, 1)
    data = lgb.Dataset(rows, label=np.array([0, 1, 0, 1]), params={"verbose": -1})
    try:
        lgb.Booster(params={"objective": "binary", "verbose": -1} | settings, train_set=data)
    except lgb.basic.LightGBMError as error:
        # LightGBM's message carries the C++ file and line it failed in: not the user's concern
        reason = re.sub(r"\s+at \S+, line \d+\s*\.?", "", str(error)).strip()
        raise ValueError(f"LightGBM refuses these settings: {reason}") from None
