"""Views of a Recommendation and its provenance graph: pure functions returning strings or data."""
