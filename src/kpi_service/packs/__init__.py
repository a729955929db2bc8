"""Packs: versioned catalogues of KPIs (with their built-in queries, organisation
assignments and alert templates) a tenant installs in one step; docs/packs.md."""
