"""Series views: a KPI over time for a subject (timeseries) and where it is heading (forecast)."""
