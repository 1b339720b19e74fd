"""`make demo` keeps moto's interpreter internals out of the terminal, in out/demo/moto.log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from iterft import demo

INTERPRETER = "moto.stepfunctions.parser.asl.component.eval_component"


@pytest.fixture
def moto_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("moto")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield logger
    for handler in logger.handlers:
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
    logger.propagate = propagate


def test_interpreter_errors_go_to_the_file_not_the_terminal(
    moto_logger: logging.Logger,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever reaches the root logger reaches the terminal (Python's last-resort handler, or
    pytest's here): moto's records stop at the file."""
    log = tmp_path / "demo" / "moto.log"
    demo.route_interpreter_logs(log)
    logging.getLogger(INTERPRETER).error(
        "Exception=NoSuchJsonPathError, Details=None-Available at '(StringJsonPath| ...'"
    )
    logging.getLogger("iterft.demo.progress").warning("the demo's own warnings still reach the terminal")
    for handler in moto_logger.handlers:
        handler.flush()
    out, err = capsys.readouterr()
    assert "NoSuchJsonPathError" not in out + err
    assert [record.name for record in caplog.records] == ["iterft.demo.progress"]
    assert f"ERROR {INTERPRETER}: Exception=NoSuchJsonPathError" in log.read_text()
