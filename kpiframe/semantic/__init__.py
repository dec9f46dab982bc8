"""The semantic layer: datasets, measures and metrics resolved by name, definitions and funnels."""
