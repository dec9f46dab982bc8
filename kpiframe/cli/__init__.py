"""The command line; the only package that imports click."""

from kpiframe.cli.main import main

__all__ = ["main"]
