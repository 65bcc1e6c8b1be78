"""Synthetic CRM world with a ground-truth response model."""
