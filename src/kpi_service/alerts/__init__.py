"""Alerts: rules on KPIs, alerts that open, fire and resolve, and signed webhooks."""
