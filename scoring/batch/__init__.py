"""Stage 5b, batch: rescoring the lead database into `lead_scores` (docs/batch.md).

`rescore` runs it (chunks, worker pool, resume); `read` reads a chunk, `chunk` scores it,
`project` says when to look at a lead again, `write` commits a chunk in one transaction;
`tables`, `runs`, `lock` and `progress` keep the bookkeeping; `shadow` scores with the source's
challenger beside the champion.
"""

from scoring.batch.lock import LockedError
from scoring.batch.rescore import Options, Summary, rescore
from scoring.batch.shadow import Challenger

__all__ = ["Challenger", "LockedError", "Options", "Summary", "rescore"]
