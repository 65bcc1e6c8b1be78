"""Training pipeline and tooling; imports scoring, never the reverse."""
