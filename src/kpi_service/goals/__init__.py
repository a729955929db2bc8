"""Goals: a user's own targets per period on KPIs, with their progress."""
