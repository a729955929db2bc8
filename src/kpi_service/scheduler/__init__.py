"""The in-process scheduler: cron jobs per period kind, catch-up, stale-run sweeps."""
