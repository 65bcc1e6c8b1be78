"""Synthetic CRM world with a ground-truth response model.

`generate_world(n_leads, seed)` builds accounts, leads with their funnel history, activity
events and the latent truth behind them; `write_world` puts them in a database;
`snapshot_export` flattens them into a marketing-automation style CSV export;
`ResponseModel` answers what a lead is worth when sales first contacts it at a given moment.
See docs/ground-truth.md.
"""

from training.synthetic.snapshot import snapshot_export
from training.synthetic.truth import ResponseModel
from training.synthetic.world import World, generate_world, write_world

__all__ = ["ResponseModel", "World", "generate_world", "snapshot_export", "write_world"]
