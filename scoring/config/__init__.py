"""Stage 1, config: one YAML file per data source, loaded into strict frozen pydantic models.

A new CRM export is a new YAML file, not new code: data access, validation, features, training
and serving read column names, meanings, costs and knobs from here. `load_config(path)` reads
and validates a file; every error names the file and the key.
"""

from scoring.config.base import DEFAULT_DATABASE, ConfigError, slug
from scoring.config.costs import CostModel
from scoring.config.credentials import hide_url
from scoring.config.document import Config
from scoring.config.fields import (
    BooleanField,
    CategoricalField,
    DatePartField,
    FeatureGroups,
    FieldSpec,
    JobTitleField,
    NumericField,
    TagsField,
    TimestampField,
)
from scoring.config.load import load_config
from scoring.config.recipe import TrainingSpec
from scoring.config.source import EventsSpec, JoinSpec, LeadsSpec, OutcomeSpec, SourceSpec

__all__ = [
    "DEFAULT_DATABASE",
    "BooleanField",
    "CategoricalField",
    "Config",
    "ConfigError",
    "CostModel",
    "DatePartField",
    "EventsSpec",
    "FeatureGroups",
    "FieldSpec",
    "JobTitleField",
    "JoinSpec",
    "LeadsSpec",
    "NumericField",
    "OutcomeSpec",
    "SourceSpec",
    "TagsField",
    "TimestampField",
    "TrainingSpec",
    "hide_url",
    "load_config",
    "slug",
]
