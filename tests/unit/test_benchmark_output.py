"""`make bench` prints one line per figure: what a benchmark's run writes meanwhile (the in-process
handlers' JSON logs and metrics, moto's errors) goes to its log file under out/bench/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging, os, sys, threading
from pathlib import Path
from benchmarks import output_to

bound = logging.StreamHandler(sys.stdout)  # bound before the block, as a handler's Powertools Logger is
logger = logging.getLogger("handler")
logger.addHandler(bound)
print("# header")
with output_to(Path(sys.argv[1])):
    print('{"level":"INFO","message":"round started"}')
    logger.warning("a handler's log line")
    print("moto's error", file=sys.stderr)
    os.write(1, b"raw stdout\\n")
    os.write(2, b"raw stderr\\n")
    thread = threading.Thread(target=print, args=('{"_aws": {"CloudWatchMetrics": []}}',))
    thread.start()
    thread.join()
print("figure 1")
"""


def test_everything_written_in_the_block_goes_to_the_file(tmp_path: Path) -> None:
    """Prints, a logging handler bound to stdout before the block, stderr, raw writes to the descriptors
    and another thread's prints all go to the file; the process's own output is the lines outside."""
    log = tmp_path / "bench" / "run.log"
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )

    assert (completed.stdout, completed.stderr) == ("# header\nfigure 1\n", "")
    written = log.read_text()
    for line in ("round started", "a handler's log line", "moto's error", "raw stdout", "raw stderr"):
        assert line in written
    assert "CloudWatchMetrics" in written
