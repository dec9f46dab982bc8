"""Who holds a DuckDB file's lock, for the hint of a refused open.

DuckDB's lock error names the holder ("Conflicting lock is held in /usr/bin/python3 (PID 4242)"). On Linux
/proc/<pid>/cmdline tells a kpiframe build from a notebook or a BI tool, so the hint can say which program
to close instead of always blaming another build.
"""

from __future__ import annotations

import re
from pathlib import Path

_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")
_SHOWN = 120  # characters of the holder's command line shown in the hint


def is_lock_error(message: str) -> bool:
    return "Could not set lock on file" in message or "Conflicting lock" in message


def holder_hint(message: str, proc: Path = Path("/proc")) -> str:
    """The hint for DuckDB's lock error `message`: the holding program when it can be named."""
    found = _HOLDER.search(message)
    if not found:
        return (
            "another process has the file open: a running kpiframe build, a notebook or a BI tool "
            "connected to it; close it and run again"
        )
    pid, exe = int(found["pid"]), found["exe"]
    argv = _command_line(proc, pid)
    if argv is None:  # gone already, or another user's process: only DuckDB's words are left
        return f"another process (pid {pid}, {exe}) has the file open; close it and run again"
    command = _kpiframe_command(argv)
    if command == "build":
        return f"a kpiframe build (pid {pid}) is writing to it; wait for it to finish, then run again"
    if command is not None:
        return f"a kpiframe {command} (pid {pid}) has it open; wait for it to finish, then run again"
    shown = " ".join(" ".join(argv).split())  # a `python -c` script spans lines: one line in the hint
    shown = shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."
    return (
        f"{_program(argv, exe)} (pid {pid}, cmd: {shown}) has the file open; close its connection "
        "(a notebook, a BI tool or a script), or point --warehouse at a copy of the file"
    )


def _command_line(proc: Path, pid: int) -> list[str] | None:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return argv or None


def _kpiframe_command(argv: list[str]) -> str | None:
    """'build' for `.../bin/kpiframe build ...` or `python -m kpiframe... build`; None for other programs."""
    for index, arg in enumerate(argv[:3]):  # the program, or the script/module python runs
        is_entry = Path(arg).name == "kpiframe"
        is_module = arg.startswith("kpiframe") and index > 0 and argv[index - 1] == "-m"
        if is_entry or is_module:
            words = [a for a in argv[index + 1 :] if not a.startswith("-")]
            return words[0] if words else "command"
    return None


def _program(argv: list[str], exe: str) -> str:
    name = Path(argv[0]).name or Path(exe).name
    if name.startswith("python"):
        return "a python process"
    if name == "duckdb":
        return "the DuckDB command-line client"
    return f"a {name} process"
