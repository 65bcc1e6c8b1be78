"""The report page (docs/report.md): one self-contained HTML file per source. `inputs` gathers
what it shows (the model card, monitoring runs, funnel and SLA numbers), `render` assembles it
from the sections in `card` (model card, thresholds, what-if) and `live` (monitoring, funnel,
SLA), built from the pieces in `elements`; `assets` holds its inlined style and script."""
