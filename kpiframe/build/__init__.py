"""The build: compiled nodes, selection, expectations, locks and the atomic publish."""
