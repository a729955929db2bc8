"""Seed 003's agent views: an agent's KPIs over a trailing window, and their activity timeline."""
