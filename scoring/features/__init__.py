"""Stage 3, features: f(leads, events, as_of) -> fit features (who the lead is) and intent
features (what it does, and how recently). The ONE implementation training, batch and real
time call; nothing after `as_of` is seen.
"""

from scoring.features.build import Features, build_features, feature_arrays
from scoring.features.spec import FeatureInfo, feature_spec
from scoring.features.time import to_days

__all__ = ["FeatureInfo", "Features", "build_features", "feature_arrays", "feature_spec", "to_days"]
