"""`make demo KEEP=1`: the instructions it prints let another terminal use iterft on the embedded default."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from iterft.demo import keep_instructions
from iterft.history import lineage_names
from iterft.local.session import LocalSession

pytestmark = [pytest.mark.integration]


def test_the_printed_commands_work_from_a_fresh_process(itest_session: LocalSession) -> None:
    export, *commands = keep_instructions(
        itest_session.endpoint, itest_session.aws.region, itest_session.deployment.stack_name
    )
    assert export.startswith("export ")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_")  # what a new terminal would not have
    }
    env.update(dict(item.split("=", 1) for item in shlex.split(export)[1:]))
    status = shlex.split(commands[0])
    assert status[0] == ".venv/bin/iterft"
    done = subprocess.run(
        [sys.executable, "-m", "iterft.cli", *status[1:], "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The lineages deployed now: test_retire may have retired one of the config's in this session.
    deployed = lineage_names(itest_session.deployment)
    assert deployed and set(deployed) <= set(done.stdout.split('"'))


def test_the_stock_demo_ends_with_rollback_to_iteration_1_possible_in_both_lineages(tmp_path: Path) -> None:
    # support-bot's four uploaded rounds (promoted, promoted, rejected, rejected) under config/dev.yaml's
    # retention: the rejected candidates are deleted as their rounds end and never push a promoted model
    # out; then its live traffic and feedback, curated into a fifth round that scores decide.
    done = subprocess.run(
        [sys.executable, "-m", "iterft.demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads((tmp_path / "history.json").read_text())["support-bot"]
    assert [row["decision"] for row in rows[:4]] == ["promoted", "promoted", "rejected", "rejected"]
    # Each decision explained with its 95% interval (paired bootstrap over the 22 questions): rounds 1 and 2
    # are shown to clear min_improvement 0.02, round 3 shown to fall (a regression), round 4 answers every
    # question as the champion does (an interval of no width at 0): none is inconclusive on this set.
    for row in rows:  # the curated round's too
        interval = row["deltas"]["token_f1"]
        assert interval["ci_low"] <= interval["delta"] <= interval["ci_high"], row["iteration"]
        assert "(95% CI " in row["reason"], row["reason"]
    first, second, legacy, phrasings = rows[:4]
    assert not any(row["inconclusive"] for row in rows[:4])
    assert first["deltas"]["token_f1"]["ci_low"] >= 0.02 and second["deltas"]["token_f1"]["ci_low"] >= 0.02
    assert legacy["regression"] is True and legacy["deltas"]["token_f1"]["ci_high"] < 0
    assert phrasings["deltas"]["token_f1"] == {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert "is shown below the required 0.0200" in phrasings["reason"]
    # 22 records cannot see a gain of 0.02: the demo says so.
    assert phrasings["power"]["too_small"] is True and phrasings["power"]["records"] == 22
    assert "yardstick too small: iteration 5: the evaluation set's 22 records can detect" in done.stdout
    assert [row["decision"] for row in rows[:4]] == ["promoted", "promoted", "rejected", "rejected"]
    assert [row["rollback"] for row in rows[:4]] == [
        "possible",
        "possible" if rows[4]["decision"] == "promoted" else "champion",
        None,
        None,
    ]
    assert [row["model_deleted_at"] is not None for row in rows[:4]] == [False, False, True, True]
    assert "rollback possible to iteration 1" in done.stdout
    assert "(iterft rollback support-bot " in done.stdout
    # Before curation: the champion's weakest category, from the kept evaluation results (`iterft gaps`
    # lists the records), is what the flywheel section names.
    flywheel = done.stdout.split("live traffic, feedback, curation", 1)[1]
    weakest = re.search(
        r"gaps: the champion's weakest category is (\w+) \(token_f1 ([\d.]+), (\d+) of (\d+) records below "
        r"perfect\); its worst records: iterft gaps support-bot",
        flywheel,
    )
    assert weakest is not None, done.stdout[-3000:]
    assert float(weakest.group(2)) < 1.0 and 0 < int(weakest.group(3)) <= int(weakest.group(4))
    champion = rows[1]["metrics"]["token_f1"]["by_category"]  # iteration 2's candidate: the champion
    lowest = min(champion, key=lambda category: (champion[category], category))
    assert (weakest.group(1), float(weakest.group(2))) == (lowest, pytest.approx(champion[lowest], abs=1e-4))
    # The curated round: built from the simulated traffic and feedback (its source recorded and shown),
    # aimed at that category first, decided by its scores against iteration 2's.
    curated = rows[4]
    assert "/incoming/support-bot/curated-" in curated["dataset"]
    assert curated["source"].startswith("curated ") and "records from invocation logs" in curated["source"]
    assert f"categories preferred (weakest first): {lowest}" in flywheel
    assert f"  5: data: {curated['source']}" in done.stdout
    assert curated["base_model"] == rows[1]["output_model_arn"]
    assert curated["champion_score"] == pytest.approx(rows[1]["eval_score"])
    # Decided by its interval (gate.decide_on: lower_bound): promoted only when shown to gain 0.02, else
    # rejected, as inconclusive when the interval straddles 0.02.
    interval = curated["deltas"]["token_f1"]
    assert curated["decision"] == ("promoted" if interval["ci_low"] >= 0.02 - 1e-9 else "rejected")
    assert curated["inconclusive"] == (interval["ci_low"] < 0.02 - 1e-9 and interval["ci_high"] >= 0.02)
    assert f"- iteration 5: {curated['source']}" in (tmp_path / "report.md").read_text()
    # support-distilled: distilled, then fine-tuned on the distilled champion (documented), then a second
    # distillation on the fine-tuned model refused before any job (undocumented); scores decide the rest.
    distilled = json.loads((tmp_path / "history.json").read_text())["support-distilled"]
    assert [(row["strategy"], row["decision"]) for row in distilled] == [
        ("distillation", "promoted"),
        ("fine_tuning", "promoted"),
        ("distillation", "rejected"),
    ]
    first, corrected, refused = distilled
    assert first["customization_type"] == "DISTILLATION"
    assert first["customization_config"]["DistillationConfig"]["TeacherModelConfig"] == {
        "TeacherModelIdentifier": "amazon.nova-pro-v1:0",
        "MaxResponseLengthForInference": 1000,
    }
    assert 0.0 < first["eval_score"] < corrected["eval_score"] < 1.0
    assert corrected["base_model"] == first["output_model_arn"]
    assert corrected["customization_type"] == "FINE_TUNING"
    assert refused["reason"].startswith("strategy: distillation on a model produced by fine_tuning is not")
    assert refused["job_arn"] is None and refused["base_model"] is None
    assert "rollback possible to iteration 1 (iterft rollback support-distilled " in done.stdout
    for lineage in ("support-bot", "support-distilled"):
        assert (tmp_path / "report" / lineage / "index.html").is_file()
        assert f"# Lineage `{lineage}`" in (tmp_path / "report.md").read_text()
