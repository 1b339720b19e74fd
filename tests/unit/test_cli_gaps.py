"""What `iterft gaps` prints for a known analysis: the table (a traffic share column only when traffic was
given), the weakest categories with their worst records cut to one line, and what the set does not measure."""

from __future__ import annotations

import io

from iterft_runtime.logic.gaps import EvaluatedRound, champion_timeline, gap_analysis, worst_records
from iterft_runtime.models.gaps import GapAnalysis
from rich.console import Console

from iterft.commands.common import print_table
from iterft.commands.read import GAPS_TEXT_CHARS, gaps_heading, gaps_lines, gaps_table


def _analysis(traffic: dict[str, float] | None = None) -> GapAnalysis:
    metrics = {"token_f1": {"overall": 0.5, "by_category": {"billing": 0.25, "storage": 1.0, "account": 0.5}}}
    document = {"eval_set_version": "v1", "champion_reused": True, "candidate": metrics}
    timeline = champion_timeline([EvaluatedRound.from_document(3, "promoted", 2, document)])
    long_answer = "no " * 200
    rows = [
        {"line": 1, "category": "billing", "prompt": "How\ndo I pay?", "reference": "By card.",
         "candidate_answer": "I don't know.", "candidate_metrics": {"token_f1": 0.0}},
        {"line": 2, "category": "billing", "prompt": "Refunds?", "reference": "Within 30 days.",
         "candidate_answer": long_answer, "candidate_metrics": {"token_f1": 0.5}},
        {"line": 3, "category": "storage", "prompt": "Quota?", "reference": "1 TB.",
         "candidate_answer": "1 TB.", "candidate_metrics": {"token_f1": 1.0}},
        {"line": 4, "category": "account", "prompt": "2FA?", "reference": "In Settings.",
         "candidate_answer": "Settings.", "candidate_metrics": {"token_f1": 0.5}},
        {"line": 5, "category": None, "prompt": "Hi", "reference": "Hello",
         "candidate_answer": "Hello", "candidate_metrics": {"token_f1": 1.0}},
    ]  # fmt: skip
    worst = worst_records(rows, "candidate", "token_f1", per_category=2)
    return gap_analysis(
        "bot", "token_f1", timeline, timeline[0], worst, per_category=2, traffic_share=traffic
    )


def _printed(analysis: GapAnalysis) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=80, no_color=True), gaps_table(analysis))
    return out.getvalue()


def test_the_heading_names_the_round_the_champion_and_where_its_answers_are() -> None:
    assert gaps_heading(_analysis()) == (
        "lineage bot after iteration 3: champion iteration 3's model, token_f1 0.5000 on evaluation set v1 "
        "(its answers as iteration 3's candidate)"
    )


def test_the_table_lists_categories_weakest_first_and_traffic_only_when_given() -> None:
    table = _printed(_analysis())
    rows = [line.split("│")[1:-1] for line in table.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["billing", "2", "2", "0.2500", "-"],
        ["account", "1", "1", "0.5000", "-"],
        ["storage", "1", "0", "1.0000", "-"],
    ]
    assert "traffic share" not in table
    with_traffic = _printed(_analysis({"billing": 0.5, "account": 0.125, "shipping": 0.25}))
    assert "traffic share" in with_traffic and "50.0%" in with_traffic and "12.5%" in with_traffic


def test_the_weakest_categories_with_their_worst_records() -> None:
    lines = gaps_lines(_analysis({"billing": 0.5, "shipping": 0.25}), weakest=5)
    assert lines[0] == "Weakest: billing (0.2500), account (0.5000)"  # storage is answered perfectly
    at = lines.index("billing: the champion fails 2 of 2 record(s); worst:")
    assert lines[at + 1 : at + 5] == [
        "  line 1 (token_f1 0.0000)",
        "    prompt:    How do I pay?",
        "    reference: By card.",
        "    answer:    I don't know.",
    ]
    cut_answer = lines[at + 8]
    assert cut_answer.startswith("    answer:    no no") and cut_answer.endswith("...")
    assert len(cut_answer) <= len("    answer:    ") + GAPS_TEXT_CHARS
    assert "1 evaluation record(s) have no category (counted overall)" in lines
    assert lines[-1] == "traffic in categories the evaluation set does not measure: shipping 25.0%"
    assert gaps_lines(_analysis(), weakest=1)[0] == "Weakest: billing (0.2500)"


def test_where_the_traffic_shares_come_from_closes_the_lines() -> None:
    read = "traffic share of 4 of the lineage's calls 2026-11-27 to 2026-12-04 in s3://logs/iterft"
    analysis = _analysis({"billing": 0.5, "storage": 0.25}).model_copy(update={"traffic_from": read})
    assert gaps_lines(analysis, 1)[-1] == read
    assert gaps_lines(_analysis(), 1)[-1] != read
