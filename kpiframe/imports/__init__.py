"""Importers that turn another tool's project into kpiframe project files.

`metricflow` reads a dbt project's semantic layer (MetricFlow YAML: `semantic_models:`, `metrics:`,
`saved_queries:`, and the dbt models they read) and plans the kpiframe files that say the same thing.
Everything it cannot say the same way is reported with its file and line, never dropped in silence.
See docs/migrating-from-metricflow.md.
"""
