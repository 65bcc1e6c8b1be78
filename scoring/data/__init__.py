"""Stage 2, data: the lead database (SQLAlchemy; SQLite by default, PostgreSQL or any URL).

`database` (queries built from the config), `sql` (fast Core reads and writes), `bulk` (COPY and
executemany), `columnar` (Arrow reads of events), `files` (CSV/Parquet exports in), `parse` (raw
values into typed ones), `validation` (raw rows in, typed rows and rejected rows with the field
and the reason out), `rejects` (the error table), `load` (validated leads and events, from the
database or from records), `summary` (what is in a lead database, as a revenue team asks) and
`arrays` (object-array helpers).
"""

from scoring.data.database import connect
from scoring.data.files import import_files
from scoring.data.load import (
    event_arrays_from_records,
    events_from_records,
    lead_arrays_from_records,
    leads_from_records,
    load_events,
    load_leads,
)
from scoring.data.validation import Leads

__all__ = [
    "Leads",
    "connect",
    "event_arrays_from_records",
    "events_from_records",
    "import_files",
    "lead_arrays_from_records",
    "leads_from_records",
    "load_events",
    "load_leads",
]
