"""Activity and executive views: summary, funnel, breakdown, cohorts."""
