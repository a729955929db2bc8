"""Standing views: a user's scorecard, a team's members x KPIs, a KPI's leaderboard."""
