"""The IAM evaluator: @cloud-copilot/iam-simulate in one long-lived Node process, asked line by line.

One process serves every check of a Python process (starting Node costs ~100 ms; a check ~1 ms), and
answers are cached by their whole question (principal, action, resource, context and policies), so a
round that makes the same call a thousand times asks once. The simulator and its IAM data are npm
devDependencies (package-lock.json): test-time tools, run as a separate program, never bundled.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

_SCRIPT = Path(__file__).with_name("simulate.mjs")
_PACKAGE = "@cloud-copilot/iam-simulate"


class SimulatorUnavailable(RuntimeError):
    """Node or the npm package is missing: `make setup` installs both."""


def _repository_root() -> Path:
    return _SCRIPT.parents[3]


def simulator_available() -> bool:
    """Whether Node and the pinned simulator are installed where the evaluator looks for them."""
    return shutil.which("node") is not None and (_repository_root() / "node_modules" / _PACKAGE).is_dir()


class NodeSimulator:
    """A client of simulate.mjs. Thread-safe: one question at a time on the pipe."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}
        self._next_id = 0

    def evaluate(self, simulation: dict[str, Any]) -> dict[str, Any]:
        """The simulator's answer: {"result": Allowed | ImplicitlyDenied | ExplicitlyDenied | Error, ...}."""
        key = json.dumps(simulation, sort_keys=True, separators=(",", ":"))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            answer = self._ask(key)
            self._cache[key] = answer
            return answer

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            if not simulator_available():
                raise SimulatorUnavailable(
                    f"the IAM simulator needs node and {_PACKAGE} in node_modules/: run `make setup`"
                )
            self._process = subprocess.Popen(
                ["node", str(_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=_repository_root(),
            )
        return self._process

    def _ask(self, simulation_json: str) -> dict[str, Any]:
        process = self._started()
        assert process.stdin is not None and process.stdout is not None
        self._next_id += 1
        process.stdin.write(f'{{"id":{self._next_id},"simulation":{simulation_json}}}\n')
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise SimulatorUnavailable(f"the IAM simulator exited (code {process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("id") != self._next_id:
            raise SimulatorUnavailable(
                f"the IAM simulator answered question {answer.get('id')}, not {self._next_id}"
            )
        return answer
