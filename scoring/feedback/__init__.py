"""Stage 7, the loop back from sales: SDR and AE decisions, contact attempts and ratings, stored
in the lead database's lead_feedback table from the API, a file import or the CRM's own
activity table (`scoring.feedback.table` documents the rows)."""
