"""Export files as real exports write them: separators, quoting, encodings, Excel, no id."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.config import Config, ConfigError, load_config
from scoring.config.source import FileSpec
from scoring.data.files import import_files, read_file, with_row_ids

ROWS = [
    {"age": "56", "job": "housemaid", "city": "Évora", "y": "no"},
    {"age": "41", "job": "admin.", "city": "Lisboa; centro", "y": "yes"},
    {"age": "56", "job": "housemaid", "city": "Évora", "y": "no"},  # the same contact again
]


def _write(path: Path, sep: str, encoding: str = "utf-8", quote_all: bool = True) -> Path:
    frame = pd.DataFrame(ROWS)
    frame.to_csv(path, sep=sep, index=False, encoding=encoding, quoting=1 if quote_all else 0)
    return path


def _bank_config(folder: Path, other_file: str = "") -> Config:
    """A config importing contacts.csv (no id column) and maybe one more file, from `folder`."""
    config = folder / "bank.yaml"
    config.write_text(
        f"""
name: bank
source:
  database: sqlite:///unused.db
  files:
    {other_file}
    contacts: {{path: contacts.csv, id_column: contact_id}}
leads:
  table: contacts
  id: contact_id
  outcome: {{column: y, won: [yes], lost: [no]}}
features:
  fit:
    - {{column: job, kind: categorical}}
"""
    )
    return load_config(config)


@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_the_separator_is_detected(tmp_path: Path, sep: str) -> None:
    frame = read_file(FileSpec(path=_write(tmp_path / "export.csv", sep)))
    assert list(frame.columns) == ["age", "job", "city", "y"]
    assert frame["city"].tolist() == ["Évora", "Lisboa; centro", "Évora"]


def test_latin1_and_a_utf8_bom_are_read(tmp_path: Path) -> None:
    latin = read_file(FileSpec(path=_write(tmp_path / "latin.csv", ";", "latin-1")))
    assert latin["city"].iloc[0] == "Évora"
    bom = read_file(FileSpec(path=_write(tmp_path / "bom.csv", ";", "utf-8-sig")))
    assert bom.columns[0] == "age"  # not "\ufeffage"


def test_a_wrong_delimiter_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "export.csv", ";", quote_all=False)
    with pytest.raises(ConfigError, match=r"one column named .* set `delimiter: ';'`"):
        read_file(FileSpec(path=path, delimiter=","))


def test_an_undecodable_file_names_the_encoding_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin.csv", ";", "latin-1")
    with pytest.raises(ConfigError, match="set `encoding:`"):
        read_file(FileSpec(path=path, encoding="utf-8"))


def test_excel_exports_are_read(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    pd.DataFrame(ROWS).to_excel(path, index=False, sheet_name="contacts")
    frame = read_file(FileSpec(path=path, sheet="contacts"))
    assert frame["job"].tolist() == ["housemaid", "admin.", "housemaid"]


def test_an_unknown_suffix_asks_for_the_format(tmp_path: Path) -> None:
    path = tmp_path / "export.dat"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="set `format:`"):
        read_file(FileSpec(path=path))
    assert read_file(FileSpec(path=path, format="csv"))["b"].tolist() == [2]


def test_generated_ids_are_stable_and_keep_repeated_rows_apart() -> None:
    frame = pd.DataFrame(ROWS)
    ids = with_row_ids(frame, "lead_id")["lead_id"].tolist()
    assert len(set(ids)) == 3
    assert ids[2] == ids[0] + "-2"  # the second copy of the same row
    reordered = with_row_ids(frame.iloc[[1, 0]], "lead_id")["lead_id"].tolist()
    assert reordered == [ids[1], ids[0]]  # a row keeps its id whatever the order
    with pytest.raises(ConfigError, match="already a column"):
        with_row_ids(frame, "job")


def test_a_config_imports_a_semicolon_export_without_ids(tmp_path: Path) -> None:
    _write(tmp_path / "contacts.csv", ";", "latin-1")
    cfg = _bank_config(tmp_path)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    assert import_files(cfg, engine) == {"contacts": 3}
    stored = pd.read_sql("SELECT * FROM contacts", engine)
    assert stored["contact_id"].nunique() == 3
    assert stored["city"].tolist()[0] == "Évora"


@pytest.mark.parametrize(
    ("text", "said"), [("", "is empty"), ('"age";"job";"y"\n', "has no rows, only a header")]
)
def test_an_export_without_rows_changes_no_table(tmp_path: Path, text: str, said: str) -> None:
    # given the tables of a good import
    _write(tmp_path / "contacts.csv", ";")
    _write(tmp_path / "accounts.csv", ",")
    cfg = _bank_config(tmp_path, "accounts: {path: accounts.csv}")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    assert import_files(cfg, engine) == {"accounts": 3, "contacts": 3}
    # when the next export of the lead table comes without rows (read after the good accounts)
    (tmp_path / "contacts.csv").write_text(text)
    # then the import stops naming the file, and neither table loses a row
    with pytest.raises(ConfigError, match=f"contacts.csv {said}"):
        import_files(cfg, engine)
    for table in ("accounts", "contacts"):
        assert len(pd.read_sql(f"SELECT * FROM {table}", engine)) == 3


def test_numeric_dates_are_stored_as_iso_in_the_order_of_the_whole_file(tmp_path: Path) -> None:
    # given a day-first export where only the first rows show that it is (day 20 over 12),
    # a column mixing both orders, and a column of other text
    rows = 2_000
    (tmp_path / "contacts.csv").write_text(
        "job;y;created;mixed;note\n"
        + "".join(
            f"admin.;no;{'20/10/2016' if i < 2 else '01/11/2016 10:30'};"
            f"{['20/10/2016', '10/20/2016', '03/04/2016'][i % 3]};v{i}\n"
            for i in range(rows)
        )
    )
    cfg = _bank_config(tmp_path)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    # when it is imported
    import_files(cfg, engine)
    stored = pd.read_sql("SELECT created, mixed, note FROM contacts", engine)
    # then every date of the day-first column is stored as ISO 8601, 01/11 as the 1st of November
    assert stored["created"].iloc[:3].tolist() == [
        "2016-10-20 00:00:00",
        "2016-10-20 00:00:00",
        "2016-11-01 10:30:00",
    ]
    assert stored["created"].str.match(r"\d{4}-\d{2}-\d{2} ").all()
    # and the mixed column and the text are stored as exported, for validation to report
    assert stored["mixed"].iloc[:3].tolist() == ["20/10/2016", "10/20/2016", "03/04/2016"]
    assert stored["note"].iloc[0] == "v0"
