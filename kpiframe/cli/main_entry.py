"""`python -m kpiframe.cli.main_entry` runs the CLI (used by benchmarks and subprocess tests)."""

from kpiframe.cli.main import main

if __name__ == "__main__":
    main()
