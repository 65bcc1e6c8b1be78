"""Where a source's data is and what its columns mean: database, leads table, joins, outcome,
funnel, activity events."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from scoring.config.base import DEFAULT_DATABASE, NAME, ConfigError, Strict, as_texts
from scoring.config.credentials import expand_env, hide_url, hides_password, references_env

_DATABASE = ("database",)


class FileSpec(Strict):
    """One export file and how to read it; every key but `path` has a working default."""

    path: Path
    format: Literal["auto", "csv", "parquet", "excel"] = Field(
        default="auto", description="auto: from the suffix (.csv/.txt/.tsv/.gz, .parquet, .xlsx)"
    )
    delimiter: str | None = Field(
        default=None, description="CSV field separator; default: detected among , ; tab |"
    )
    encoding: str | None = Field(
        default=None, description="text encoding; default: UTF-8 (a BOM is dropped), else Latin-1"
    )
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    sheet: str | int = Field(default=0, description="Excel sheet name or position")
    id_column: str | None = Field(
        default=None,
        description="add a generated lead id in this column, for exports without one: a digest "
        "of the row's values (stable across re-imports and row order), `-2`, `-3`... appended "
        "to repeats of the same row",
    )

    row_number_column: str | None = Field(
        default=None,
        description="add the file's row number (1, 2, ...) in this column: the time order of an "
        "export in time order without dates (use it as leads.order_by)",
    )

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and len(value.replace("\\t", "\t")) != 1:
            raise ValueError('delimiter must be one character (write a tab as "\\t")')
        return None if value is None else value.replace("\\t", "\t")


class SourceSpec(Strict):
    database: str = Field(
        default=DEFAULT_DATABASE, description="SQLAlchemy URL of the lead database"
    )
    files: dict[str, FileSpec] = Field(
        default_factory=dict,
        description="table name -> export file (a path, or {path, delimiter, encoding, ...}) "
        "imported by `leadscore data import`",
    )

    # the values the file wrote as `${VAR}` references (the database, export paths), which a run
    # or a model stores instead of what the environment held
    _references: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)

    @field_validator("files", mode="before")
    @classmethod
    def _paths_are_files(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str | Path) else v for k, v in value.items()}
        return value

    def referencing(self, written: object) -> SourceSpec:
        """This section remembering which values `written` (the section as the file has it,
        before `${VAR}` expansion) gave as references to the environment."""
        refs: dict[tuple[str, ...], str] = {}
        if not isinstance(written, dict):
            return self
        if isinstance(db := written.get("database"), str) and references_env(db):
            refs[_DATABASE] = db
        files = written.get("files")
        for table, file in files.items() if isinstance(files, dict) else ():
            path = file.get("path") if isinstance(file, dict) else file
            if isinstance(path, str) and references_env(path) and table in self.files:
                refs[("files", table)] = path
        return self._copy({}, refs)

    def _copy(self, update: dict[str, object], refs: dict[tuple[str, ...], str]) -> SourceSpec:
        copy = self.model_copy(update=update)
        copy._references = refs
        return copy

    def stored(self) -> dict:
        """This section as a run or a model keeps it: values from the environment as their
        `${VAR}` reference, the database URL without its password or secret query values."""
        dump = self.model_dump(mode="json")
        for key, written in self._references.items():
            if key == _DATABASE:
                dump["database"] = written
            else:
                dump["files"][key[1]]["path"] = written
        dump["database"] = hide_url(dump["database"])
        return dump

    def on_database(self, url: str | None) -> SourceSpec:
        """This section on the database at `url` (`--db`); without one, on its own, where a
        stored section (a run's, a model's) has its `${VAR}` reference expanded now and a URL
        whose password was hidden (given as such, or as the default of an unset variable) is
        refused."""
        refs = {k: v for k, v in self._references.items() if k != _DATABASE}
        if url:
            return self._copy({"database": url}, refs)
        if not references_env(self.database):
            self._refuse_hidden(self.database, "pass --db with the full URL")
            return self
        try:
            expanded = expand_env(self.database)
        except ConfigError as exc:
            raise ConfigError(f"source.database: {exc}; set it or pass --db") from None
        self._refuse_hidden(expanded, "set its variable or pass --db with the full URL")
        return self._copy({"database": expanded}, refs | {_DATABASE: self.database})

    def _refuse_hidden(self, url: str, then: str) -> None:
        if hides_password(url):
            raise ConfigError(
                f"source.database: {self.database} was stored without its password; {then}"
            )


class JoinSpec(Strict):
    """Another table left-joined onto the leads table (e.g. accounts, products)."""

    table: str
    keys: dict[str, str] = Field(min_length=1, description="lead-side column -> column of `table`")
    columns: list[str] | None = Field(
        default=None, description="columns to bring in; default: all but the join keys"
    )
    prefix: str = Field(default="", description="prepended to brought-in columns to avoid clashes")


class OutcomeSpec(Strict):
    """How to read won/lost from a column. Values are compared case-insensitively."""

    column: str
    won: list[str] = Field(min_length=1)
    lost: list[str] = Field(min_length=1)
    open: list[str] | None = Field(
        default=None,
        description="values of leads still in progress; when given, any other value is an error",
    )

    _as_texts = field_validator("won", "lost", "open", mode="before")(as_texts)

    @model_validator(mode="after")
    def _disjoint(self) -> OutcomeSpec:
        groups = {"won": self.won, "lost": self.lost, "open": self.open or []}
        seen: dict[str, str] = {}
        for group, values in groups.items():
            for value in values:
                key = value.strip().lower()
                if key in seen:
                    raise ValueError(f"value {value!r} is listed in both {seen[key]} and {group}")
                seen[key] = group
        return self


# the columns a `leads.wins` table adds to the lead rows, and the outcome they stand for
WINS_COLUMNS = {"won": "wins_won", "won_at": "wins_won_at", "amount": "wins_amount"}
WINS_OUTCOME = {"column": WINS_COLUMNS["won"], "won": ["won"], "lost": ["lost"]}


class WinsSpec(Strict):
    """Outcome by membership: the won leads are those with a row in another table (a closed-deals
    export keyed by the lead id); every other lead counts as lost."""

    table: str
    lead_id: str = Field(description="the column of `table` holding the lead id (leads.id)")
    won_at: str | None = Field(
        default=None, description="its date of the win (the earliest, for several rows a lead)"
    )
    amount: str | None = Field(
        default=None, description="its deal amount (summed, for several rows a lead)"
    )


class LeadsSpec(Strict):
    """The leads table: one row per lead (or per opportunity, for opportunity exports)."""

    table: str
    id: str
    created_at: str | None = None
    outcome: OutcomeSpec | None = None
    revenue: str | None = Field(default=None, description="deal amount of won leads")
    opportunity_amount: str | None = Field(
        default=None, description="amount of the opportunity, known for lost deals too"
    )
    close_date: str | None = None
    funnel: dict[str, str] = Field(
        default_factory=dict,
        description="stage name -> timestamp column set when the lead reached it, in order",
    )
    joins: list[JoinSpec] = Field(default_factory=list)
    order_by: str | None = Field(
        default=None,
        description="a numeric column that orders leads in time when there is no created_at "
        "(e.g. the row number of an export in time order): folds and the drift check follow it",
    )
    missing_values: list[str] = Field(
        default_factory=list,
        description="placeholders that mean missing in every column (e.g. Select, unknown, n/a); "
        "compared case-insensitively",
    )
    deal_value: float | None = Field(
        default=None,
        gt=0,
        description="value of a won deal when the export has no amounts: expected revenue = win "
        "probability x this (default: none, every value is in won deals, i.e. 1 a win)",
    )

    wins: WinsSpec | None = Field(
        default=None,
        description="won = the lead has a row in this table (instead of an outcome column); "
        "its won date and amount stand for close_date and revenue unless those are set",
    )

    _missing_as_texts = field_validator("missing_values", mode="before")(as_texts)

    @model_validator(mode="before")
    @classmethod
    def _wins_are_the_outcome(cls, value: object) -> object:
        """`wins` stands for an outcome column the lead query adds (`wins_won`: won or lost),
        and for close_date and revenue when the wins table has them."""
        if not isinstance(value, dict) or not value.get("wins"):
            return value
        wins = value["wins"]
        outcome = value.get("outcome")
        column = (
            outcome.get("column") if isinstance(outcome, dict) else getattr(outcome, "column", 0)
        )
        if outcome is not None and column != WINS_COLUMNS["won"]:  # a dumped config has both
            raise ValueError(
                "set either leads.outcome (a column) or leads.wins (a table), not both"
            )
        derived: dict[str, object] = {"outcome": WINS_OUTCOME}
        get = wins.get if isinstance(wins, dict) else lambda key: getattr(wins, key, None)
        if get("won_at") and not value.get("close_date"):
            derived["close_date"] = WINS_COLUMNS["won_at"]
        if get("amount") and not value.get("revenue"):
            derived["revenue"] = WINS_COLUMNS["amount"]
        return {**value, **derived}


class EventsSpec(Strict):
    """Activity table of an event-log CRM: one row per event."""

    table: str
    lead_id: str
    type: str
    timestamp: str
    types: dict[str, list[str]] = Field(
        min_length=1,
        description="event type name -> raw values in the type column (a list means identity)",
    )
    hand_raise: list[str] = Field(default_factory=list, description="types that signal intent")
    ready: list[str] | None = Field(
        default=None,
        description="types by which a lead asks to talk to sales now (a demo request, not a "
        "pricing-page visit): when it became ready, for the threshold replay (default: hand_raise)",
    )
    windows_days: list[int] = Field(default_factory=lambda: [1, 7, 30, 90], min_length=1)
    half_life_days: float = Field(default=14.0, gt=0, description="decay of engagement")
    weights: dict[str, float] = Field(
        default_factory=dict, description="engagement weight per type (default 1)"
    )

    @field_validator("types", mode="before")
    @classmethod
    def _list_means_identity(cls, value: object) -> object:
        if isinstance(value, list):
            return {name: [name] for name in value}
        return (
            {k: (v if v is not None else [k]) for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )

    @field_validator("types")
    @classmethod
    def _type_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        raw_seen: dict[str, str] = {}
        for name, raws in value.items():
            if not NAME.match(name):
                raise ValueError(f"event type name {name!r} must be snake_case")
            for raw in raws:
                if raw in raw_seen:
                    raise ValueError(f"raw value {raw!r} maps to both {raw_seen[raw]} and {name}")
                raw_seen[raw] = name
        return value

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("windows must be distinct positive numbers of days")
        return sorted(value)

    @model_validator(mode="after")
    def _known_types(self) -> EventsSpec:
        named = {"hand_raise": self.hand_raise, "ready": self.ready or [], "weights": self.weights}
        for key, names in named.items():
            unknown = sorted(set(names) - set(self.types))
            if unknown:
                raise ValueError(
                    f"{key} names unknown event types {unknown}; known: {list(self.types)}"
                )
        return self
