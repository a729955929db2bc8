"""Read views over the engine: scorecards, rankings, series, executive views, exports."""
