"""Calculation runs: planning (pure), execution with heartbeats, the task registry, claims of
scheduled occurrences, and what follows a finished run."""
