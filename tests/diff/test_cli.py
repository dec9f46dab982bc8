"""`kpiframe diff` as CI and people run it: JSON for tools, Markdown for a PR, a terminal view, exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kpiframe.cli import main
from tests.diff.conftest import git


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def pr(project_dir, *args: str) -> tuple[int, str, str]:
    return run("diff", "--project-dir", str(project_dir), "--base", "main", "--head", "HEAD~2", *args)


def test_json_for_tools(project_dir):
    code, out, err = pr(project_dir, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"base", "head", "grain", "periods", "breaking", "summary", "notes", "changes", "series"}
    assert report["base"]["ref"] == "main" and report["head"]["ref"] == "HEAD~2"
    assert report["base"]["commit"] == git(project_dir, "rev-parse", "main")
    assert report["breaking"] is True and (report["grain"], report["periods"]) == ("month", 3)
    assert report["summary"] == {"added": 1, "removed": 0, "changed": 6, "affected": 1, "breaking": 3}
    changes = {(c["kind"], c["name"]): c for c in report["changes"]}
    for change in changes.values():
        assert {
            "kind",
            "name",
            "status",
            "breaking",
            "reasons",
            "fields",
            "sql",
            "columns",
            "downstream",
            "tables",
            "values",
        } <= set(change)
    paid = changes[("metric", "paid_orders")]
    assert paid["breaking"] is True and paid["downstream"] == ["metric:paid_share"]
    assert paid["fields"] == [{"path": "filter", "old": "status = 'paid'", "new": "status = 'paid' and amount >= 30"}]
    assert [(p["period"], p["old"], p["new"], p["delta"]) for p in paid["values"]["paid_orders"]] == [
        ("2026-02-01", 1, 0, -1),
        ("2026-03-01", 1, 0, -1),
        ("2026-04-01", 1, 1, 0),
    ]
    model = changes[("model", "stg_orders")]
    assert model["tables"] == ["shop_monthly"] and "orders" in model["values"]  # downstream metrics' values
    mql = changes[("definition", "mql")]
    assert mql["breaking"] is False
    feb = mql["values"]["mql v2 vs v1"][0]
    assert feb == {
        "period": "2026-02-01",
        "old": 1,
        "new": 1,
        "delta": 0,
        "delta_pct": 0.0,
        "left": 1,
        "entered": 1,
        "left_examples": ["L1"],
        "entered_examples": ["L2"],
    }
    assert changes[("metric", "leads")]["values"] == {}  # a description does not change a number


def test_markdown_for_a_pull_request(project_dir):
    code, out, _ = pr(project_dir, "--format", "markdown")
    assert code == 0
    assert out.startswith("<!-- kpiframe-diff -->\n")
    assert "## kpiframe diff: main (" in out and "**3 breaking** · 6 changed · 1 added" in out
    assert "|  | kind | name | status | breaking | published tables downstream |" in out
    assert "| ~ | model | stg_orders | changed | yes | shop_monthly |" in out
    assert "### ~ metric `paid_orders` changed (metrics/shop.yml): **breaking**" in out
    assert "- `filter`: `status = 'paid'` → `status = 'paid' and amount >= 30`" in out
    assert "### ~ metric `leads` changed (metrics/leads.yml): not breaking" in out
    assert "| paid_orders | 2026-02 | 1 | 0 | −1 | −100.0 % |" in out
    assert "- mql v2 vs v1, 2026-02: 1 → 1 (+0.0 %): 1 lead leaves, 1 enters (e.g. leaving `L1`; entering `L2`)" in out
    assert "- mql v2 vs v1, 2026-04: 3 → 2 (−33.3 %): 1 lead leaves, 0 enter (e.g. leaving `L5`)" in out


def test_terminal_view(project_dir):
    code, out, _ = pr(project_dir)
    assert code == 0
    assert "┃ metric " in out and "paid_orders" in out  # rich tables
    assert "~ metric paid_orders changed (metrics/shop.yml): breaking" in out
    assert "**" not in out and "`" not in out


def test_fail_on_breaking_exits_4(project_dir):
    code, _, err = pr(project_dir, "--fail-on", "breaking", "--no-impact")
    assert code == 4 and "3 breaking change(s)" in err
    # v3 -> v4 (the working tree) only changes a label and a description
    base = ("diff", "--project-dir", str(project_dir), "--base", "HEAD~1", "--no-impact")
    assert run(*base, "--fail-on", "breaking")[0] == 0
    assert run(*base, "--fail-on", "any")[0] == 4
    assert run(*base)[0] == 0


def test_default_base_is_the_merge_base_with_main(project_dir):
    code, out, err = run("diff", "--project-dir", str(project_dir), "--format", "json", "--no-impact")
    assert code == 0, err
    report = json.loads(out)
    assert report["base"]["label"].startswith("merge base with main")
    assert report["base"]["commit"] == git(project_dir, "merge-base", "HEAD", "main")
    assert report["head"] == {"label": "working tree", "ref": None, "commit": None}
    assert {c["name"] for c in report["changes"] if c["status"] == "changed"} >= {"paid_orders", "shop_monthly"}
    assert "value impact" not in " ".join(report["notes"])  # --no-impact is asked, not a problem


def test_help_names_the_exit_code():
    code, out, _ = run("diff", "--help")
    assert code == 0 and "code 4" in out and "--fail-on" in out
