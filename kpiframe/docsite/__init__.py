"""`kpiframe docs`: a static, offline site of the project (catalog, lineage, KPI trees, pace, funnels,
definitions, quality), generated from the project files and, when it has been built, the warehouse."""
