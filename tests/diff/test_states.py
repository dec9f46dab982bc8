"""Loading the project at a git ref, and the compiler-style errors when that is not possible."""

from __future__ import annotations

from click.testing import CliRunner

from kpiframe.cli import main
from tests.conftest import SHOP_PROJECT, write_files
from tests.diff.conftest import git


def diff(project_dir, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["diff", "--project-dir", str(project_dir), "--no-impact", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


def commit_all(repo, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def test_outside_a_git_repository(make_project):
    code, err = diff(make_project())
    assert code == 1 and "error[KF951]" in err and "is not inside a git repository" in err


def test_unknown_ref(project_dir):
    code, err = diff(project_dir, "--base", "no-such-branch")
    assert code == 1 and "error[KF952]: unknown git ref 'no-such-branch'" in err and "fetch-depth" in err


def test_no_main_branch_to_compare_with(make_project):
    root = make_project(rows=False)
    git(root, "init", "-q", "-b", "trunk")
    commit_all(root, "first")
    code, err = diff(root)
    assert code == 1 and "error[KF953]" in err and "--base REF" in err


def test_the_project_folder_did_not_exist_at_the_ref(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("analytics to come\n", encoding="utf-8")
    commit_all(tmp_path, "readme")
    write_files(tmp_path / "shop", SHOP_PROJECT)
    commit_all(tmp_path, "project")
    code, err = diff(tmp_path / "shop", "--base", "HEAD~1")
    assert code == 1 and "error[KF954]: there is no 'shop' folder at 'HEAD~1'" in err


def test_an_invalid_project_at_the_ref_shows_its_diagnostics_prefixed_with_the_ref(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    broken = SHOP_PROJECT["metrics/shop.yml"].replace("measure: revenue_sum}", "measure: revenue_sun}")
    write_files(tmp_path / "shop", {**SHOP_PROJECT, "metrics/shop.yml": broken})
    commit_all(tmp_path, "broken")
    write_files(tmp_path / "shop", SHOP_PROJECT)
    commit_all(tmp_path, "fixed")
    code, err = diff(tmp_path / "shop", "--base", "HEAD~1")
    assert code == 1
    assert err.startswith("error[KF955]: the project at 'HEAD~1' does not load")
    assert "HEAD~1:metrics/shop.yml:" in err and "error[KF201]: unknown measure 'revenue_sun'" in err
    code, err = diff(tmp_path / "shop", "--base", "HEAD")  # and the fixed one compares fine
    assert code == 0, err


def test_the_project_in_a_sub_folder_is_read_from_that_folder_at_the_ref(project_dir):
    code, err = diff(project_dir, "--base", "HEAD")
    assert code == 0, err  # analytics/ at HEAD is the working tree: nothing changed
