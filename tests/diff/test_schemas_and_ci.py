"""JSON Schemas kept in the repository, and the CI workflow and pre-commit hooks that use kpiframe."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from kpiframe.cli import main
from kpiframe.diff.schemas import json_schemas, stale_schemas
from tests.conftest import REPO_ROOT

SCHEMAS = REPO_ROOT / "schemas"


def read_yaml(path: Path) -> object:
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")), default=str))


def test_committed_schemas_equal_what_the_specs_generate():
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(json_schemas())
    assert stale_schemas(SCHEMAS) == [], "run `kpiframe schema` and commit schemas/"


def test_the_example_project_validates_against_its_schemas():
    import jsonschema  # installed with great-expectations: missing is a failure

    project = json.loads((SCHEMAS / "kpi_project.schema.json").read_text(encoding="utf-8"))
    files = json.loads((SCHEMAS / "project_file.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(read_yaml(REPO_ROOT / "kpi_project.yml"), project)
    paths = [*REPO_ROOT.glob("models/**/*.yml"), *REPO_ROOT.glob("metrics/**/*.yml")]
    assert len(paths) > 5
    for path in paths:
        jsonschema.validate(read_yaml(path), files)
    with pytest.raises(jsonschema.ValidationError, match="'agg' was unexpected"):
        jsonschema.validate({"metrics": [{"name": "x", "measure": "m", "agg": "sum"}]}, files)


def test_schema_command_writes_and_checks(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["schema", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0 and "kpi_project.schema.json" in result.stdout
    assert runner.invoke(main, ["schema", "--output-dir", str(tmp_path), "--check"]).exit_code == 0
    (tmp_path / "project_file.schema.json").write_text("{}\n", encoding="utf-8")
    result = runner.invoke(main, ["schema", "--output-dir", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "error[KF960]: out of date in" in result.stderr and "project_file.schema.json" in result.stderr


def kpiframe_commands(text: str) -> list[list[str]]:
    """Every `kpiframe ...` command in a shell text, as its arguments."""
    found = []
    for segment in re.split(r"[;&|>\n]|\b(?:then|if|exec)\b", text):
        words = [w.strip("'\"") for w in segment.split()]
        if len(words) > 1 and words[0] == "kpiframe":
            found.append(words[1:])
    return found


def assert_known(args: list[str]) -> None:
    if args[0] == "lint":  # called only when the installed kpiframe has it
        return
    assert args[0] in main.commands, args
    command = main.commands[args[0]]
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    assert {a for a in args[1:] if a.startswith("--")} <= options, args


def test_workflow_compiles_lints_tests_and_posts_the_diff():
    workflow = read_yaml(REPO_ROOT / ".github" / "workflows" / "kpiframe.yml")
    assert isinstance(workflow, dict)
    steps = workflow["jobs"]["check"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0  # the diff needs the base branch's history
    runs = "\n".join(step.get("run", "") for step in steps)
    commands = kpiframe_commands(runs)
    for args in commands:
        assert_known(args)
    names = [args[0] for args in commands]
    assert {"compile", "lint", "test", "schema", "diff"} <= set(names)
    assert ["test", "--metrics-only"] in commands
    diff = next(args for args in commands if args[0] == "diff")
    assert "--format" in diff and "markdown" in diff and "breaking" in diff
    script = next(step["with"]["script"] for step in steps if "github-script" in step.get("uses", ""))
    assert "<!-- kpiframe-diff -->" in script  # the marker `--format markdown` starts with


@pytest.mark.parametrize("path", [".pre-commit-hooks.yaml", ".pre-commit-config.yaml"])
def test_pre_commit_hooks_call_known_commands(path):
    data = read_yaml(REPO_ROOT / path)
    hooks = data if isinstance(data, list) else [h for repo in data["repos"] for h in repo["hooks"]]
    entries = [kpiframe_commands(h["entry"]) for h in hooks if "kpiframe" in h["entry"]]
    assert {args[0] for found in entries for args in found} >= {"compile", "lint", "test", "diff"}
    for found in entries:
        for args in found:
            assert_known(args)
