"""What the client suites share: feature recorders, test data, and running client programs.

A `ClientRecorder.feature(...)` block is a soft check: its failure is recorded for the matrix and
reported when the test ends, while the test goes on with its next feature (a missing multipart upload
should not hide a working sync).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compat import results

# Every outcome and client version of this session, merged into the results file at its end.
OUTCOMES: list[results.Outcome] = []
VERSIONS: dict[str, str] = {}

# -- recording client features


@dataclass
class ClientRecorder:
    """Runs one client's features, remembering each outcome; `feature(...)` is a soft check."""

    client: str
    backend: str
    failures: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def feature(self, name: str) -> Iterator[None]:
        self._check_name(name)
        try:
            yield
        except Exception as exc:
            self._failed(name, exc)
        else:
            self._record(name, True)

    @contextlib.contextmanager
    def known_gap(self, name: str, expect: str, why: str) -> Iterator[None]:
        """A feature the server is known to fail with `expect` in the error: recorded as failing, with
        `why`, for the matrix, without failing the test. Any other error fails the test, and so does
        success, so the marker goes as soon as the gap is closed."""
        self._check_name(name)
        try:
            yield
        except Exception as exc:
            if expect not in "".join(traceback.format_exception(exc)):
                self._failed(name, exc)
            else:
                self._record(name, False, f"known gap: {why}")
        else:
            self._record(name, True)
            self.failures.append(f"[{self.client} · {name}] passed, but is marked as a known gap: {why}")

    def _check_name(self, name: str) -> None:
        if name not in results.FEATURES:
            raise ValueError(f"unknown feature {name!r}: add it to compat.results.FEATURES")

    def _record(self, name: str, passed: bool, detail: str = "") -> None:
        OUTCOMES.append(
            results.Outcome(self.client, name, self.backend, passed, results.clean_detail(detail))
        )

    def _failed(self, name: str, exc: Exception) -> None:
        self._record(name, False, _summary(exc))
        self.failures.append(f"[{self.client} · {name}] {''.join(traceback.format_exception(exc))}")


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(exc, AssertionError) and first else f"{type(exc).__name__}: {first}"


@dataclass
class Compat:
    """The test's recorders; the test fails after its last line if any feature failed."""

    backend: str
    recorders: list[ClientRecorder] = field(default_factory=list)

    def __call__(self, client: str, version: str) -> ClientRecorder:
        if client not in results.CLIENTS:
            raise ValueError(f"unknown client {client!r}: add it to compat.results.CLIENTS")
        VERSIONS[client] = version
        recorder = ClientRecorder(client, self.backend)
        self.recorders.append(recorder)
        return recorder

    def failures(self) -> list[str]:
        return [failure for recorder in self.recorders for failure in recorder.failures]


# -- data


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def sample_tree() -> dict[str, bytes]:
    """A small tree with nesting, spaces, a `+` and non-ASCII names: what sync tools trip over."""
    return {
        "index.html": b"<html>index</html>\n",
        "css/site.css": b"body { color: teal }\n",
        "img/logo one.png": os.urandom(30_000),
        "img/icons/ключ.svg": b"<svg/>",
        "docs/a+b.txt": b"plus sign\n",
        "docs/deep/er/leaf.txt": b"leaf\n",
    }


# -- running client programs


def run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 180,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a client command; a non-zero exit raises with the command and its output, first line a summary."""
    result = subprocess.run(list(cmd), env=env, input=input, capture_output=True, timeout=timeout, cwd=cwd)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        last = stderr.splitlines()[-1] if stderr else ""
        raise AssertionError(
            f"`{_command_name(cmd)}` exited {result.returncode}: {last}\n"
            f"command: {' '.join(cmd)}\nstdout:\n{result.stdout.decode(errors='replace')[-3000:]}\n"
            f"stderr:\n{stderr[-5000:]}"
        )
    return result


def _command_name(cmd: Sequence[str]) -> str:
    """`aws s3 cp`, `s3cmd put`: the program and its subcommands, without interpreter, options or paths."""
    words: list[str] = []
    for word in cmd:
        name = Path(word).name
        if word.startswith("-") or name.startswith("python") or ("/" in word and words):
            continue
        words.append(name)
        if len(words) == 3:
            break
    return " ".join(words)


def executable(name: str, install_hint: str) -> str:
    """A client program: beside this Python first (pip's scripts), then on PATH; missing fails loudly."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {install_hint}", pytrace=False)
    return found


def clean_env(prefixes: tuple[str, ...] = ("AWS_",)) -> dict[str, str]:
    """This process's environment without a developer's own credentials or config for the client."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
