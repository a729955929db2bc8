"""Pure KPI calculations: reporting periods and achievement scoring."""
