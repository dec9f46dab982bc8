"""kpiframe: metrics as code for marketing and sales analytics."""

__version__ = "0.1.0"
