"""KPI service: define, assign, compute and read KPIs."""
