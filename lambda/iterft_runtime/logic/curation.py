"""Curation: a lineage's live traffic and the team's feedback, made into the next round's data
(docs/flywheel.md). Plain logic: the calls, the feedback and what earlier rounds trained on are passed in.

Per logged call of the lineage, newest first:
- a corrected answer (feedback `corrected_answer`) is a fine-tuning record with that answer;
- an answer rated at least `min_rating` (and not corrected) is a fine-tuning record with the logged answer;
- any other prompt (no feedback, or rated lower without a correction) has no trusted answer: it is a
  distillation prompt, for a lineage that can run distillation rounds;
- a prompt that is an exact or near duplicate (logic/near_duplicates) of earlier rounds' data or of a
  prompt already taken is dropped, naming what it duplicates;
- fine-tuning records are taken in order of category preference (the weakest categories first), then
  corrected before well-rated, then newest, up to `record_budget`.
A file under the model's minimum records is not written: nothing starts, and the plan says why.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iterft_runtime.logic.evaluation import EvaluationItem
from iterft_runtime.logic.feedback import Feedback
from iterft_runtime.logic.invocation_logs import LoggedCall, message_text
from iterft_runtime.logic.leakage import LeakageIndex
from iterft_runtime.logic.near_duplicates import DuplicateIndex, jaccard, normalise
from iterft_runtime.models.curation import MAX_SOURCE_CHARS, SOURCE_METADATA_KEY
from iterft_runtime.models.families import DataFormat
from iterft_runtime.models.leakage import LeakageConfig
from iterft_runtime.models.traffic import CurationConfig, TrafficConfig

UNCATEGORIZED = "uncategorized"
CATEGORY_METADATA_KEY = "category"
"""A call's `requestMetadata.category`, when the application names one, is its category."""
MIN_CATEGORY_SIMILARITY = 0.2
"""A prompt takes the category of the evaluation prompt most like it (content-word Jaccard) from this on."""
_STOPWORD_TEXT = (
    "a an the i my me we our you your is are am be do does did can could how what when where which who "
    "why to of in on for at by with it its this that and or if so as from there their they"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split(" "))
_WORD = re.compile(r"\w+")


class Trust:
    CORRECTED = "corrected"
    WELL_RATED = "well_rated"
    UNTRUSTED = "untrusted"


@dataclass(frozen=True)
class Candidate:
    call: LoggedCall
    category: str
    trust: str
    answer: str | None
    rating: int | None


@dataclass(frozen=True)
class Choice:
    """What curation did with one call, and why (what a dry run prints)."""

    request_id: str
    question: str
    category: str
    outcome: str
    """fine_tuning | distillation | dropped"""
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "question": self.question,
            "category": self.category,
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass
class CurationPlan:
    fine_tuning: list[Candidate] = field(default_factory=list)
    distillation: list[Candidate] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Why a file is not written (too few records, no distillation settings), in sentences."""
    write_fine_tuning: bool = False
    write_distillation: bool = False
    traffic_share: dict[str, float] = field(default_factory=dict)
    """Each category's share of the calls curated from (UNCATEGORIZED: like no evaluation prompt)."""

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for choice in self.choices:
            found[choice.outcome] = found.get(choice.outcome, 0) + 1
        return found


def dataset_source(metadata: Mapping[str, str]) -> str | None:
    """How a dataset was built, from its S3 user metadata `source` (what curation writes), on one line and
    at most MAX_SOURCE_CHARS; None when the upload does not say."""
    text = " ".join(str(metadata.get(SOURCE_METADATA_KEY, "")).split())
    if not text:
        return None
    return text if len(text) <= MAX_SOURCE_CHARS else text[: MAX_SOURCE_CHARS - 3] + "..."


def belongs_to(call: LoggedCall, model_ids: Iterable[str], traffic: TrafficConfig) -> bool:
    """Whether a logged call is the lineage's traffic: it invoked a model the lineage's serving pointer
    named and, when the lineage is tagged by `request_metadata`, it carries those pairs (an untagged call,
    such as an evaluation's, is not the applications' traffic)."""
    if call.model_id not in set(model_ids):
        return False
    return all(call.metadata.get(key) == value for key, value in traffic.request_metadata.items())


def content_words(text: str) -> frozenset[str]:
    return frozenset(word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS)


def categorise(
    question: str, named: str | None, evaluation: Sequence[EvaluationItem], known: frozenset[str]
) -> str:
    """A prompt's category: the one the application or feedback names (when the evaluation set has it),
    else the category of the evaluation prompt most like it, else UNCATEGORIZED."""
    if named and named in known:
        return named
    words = content_words(question)
    best, best_score = UNCATEGORIZED, MIN_CATEGORY_SIMILARITY
    for item in evaluation:
        if item.category is None:
            continue
        score = jaccard(words, content_words(item.prompt))
        if score >= best_score and (score > best_score or best == UNCATEGORIZED):
            best, best_score = item.category, score
    return best


def traffic_share(categories: Iterable[str]) -> dict[str, float]:
    """Each category's share (0..1) of the calls whose categories these are, by name; {} for no calls.
    Every call counts, a prompt asked twice twice: it is how often the model is asked (issue 17 point 2)."""
    counted = Counter(categories)
    total = sum(counted.values())
    return {category: count / total for category, count in sorted(counted.items())} if total else {}


def plan_curation(
    calls: Sequence[LoggedCall],
    feedback: Mapping[str, Feedback],
    earlier_prompts: Iterable[tuple[str, str]],
    evaluation: Sequence[EvaluationItem],
    prefer: Sequence[str],
    settings: CurationConfig,
    *,
    leakage: LeakageConfig,
    min_records: int,
    distillation_min: int | None,
    distillation_note: str | None = None,
) -> CurationPlan:
    """The plan for one curation. `earlier_prompts`: (prompt, where) of the data earlier rounds trained
    on; `prefer`: category names, weakest first; `distillation_min`: the fewest prompts a distillation
    round takes, or None when the lineage cannot run one (`distillation_note` says why). `leakage`: the
    lineage's leakage check, the one Validate applies to the written file, so a prompt it would find
    (an evaluation prompt asked live, or one within its threshold) is dropped here, whatever its
    action, and never trains."""
    plan = CurationPlan()
    known = frozenset(item.category for item in evaluation if item.category)
    seen = DuplicateIndex(settings.near_duplicate_threshold)
    seen.add_all((prompt, where) for prompt, where in earlier_prompts)
    yardstick = LeakageIndex(((item.line, item.prompt) for item in evaluation), leakage)
    rank = {category: index for index, category in enumerate(prefer)}

    candidates = [
        _candidate(call, feedback.get(call.request_id), evaluation, known, settings) for call in calls
    ]
    plan.traffic_share = traffic_share(candidate.category for candidate in candidates)
    candidates.sort(key=lambda c: c.call.timestamp, reverse=True)  # the newest call of a prompt wins
    candidates.sort(key=lambda c: (_trust_order(c.trust), rank.get(c.category, len(rank))))
    for candidate in candidates:
        call = candidate.call
        leaked = yardstick.match(call.question)
        if leaked is not None:
            kind = "" if leaked.exact else f"near (similarity {leaked.similarity:.2f}) "
            plan.choices.append(
                _choice(
                    candidate, "dropped", f"{kind}the evaluation set's prompt (line {leaked.evaluation_line})"
                )
            )
            continue
        match = seen.find(call.question)
        if match is not None:
            kind = "exact" if match.exact else f"near (similarity {match.similarity:.2f})"
            plan.choices.append(_choice(candidate, "dropped", f"{kind} duplicate of {match.label}"))
            continue
        if candidate.trust == Trust.UNTRUSTED:
            seen.add(call.question, f"request {call.request_id}")
            plan.distillation.append(candidate)
            continue
        if len(plan.fine_tuning) >= settings.record_budget:
            plan.choices.append(
                _choice(candidate, "dropped", f"over the record budget ({settings.record_budget})")
            )
            continue
        seen.add(call.question, f"request {call.request_id}")
        plan.fine_tuning.append(candidate)
        why = "corrected answer" if candidate.trust == Trust.CORRECTED else f"answer rated {candidate.rating}"
        preferred = (
            f", preferred category (rank {rank[candidate.category] + 1})"
            if candidate.category in rank
            else ""
        )
        plan.choices.append(_choice(candidate, "fine_tuning", why + preferred))
    for candidate in plan.distillation:
        rated = f"rated {candidate.rating} without a correction" if candidate.rating else "no feedback"
        plan.choices.append(_choice(candidate, "distillation", f"no trusted answer ({rated})"))

    count = len(plan.fine_tuning)
    if count == 0:
        plan.notes.append("fine-tuning: no corrected or well-rated answer: no fine-tuning round")
    elif count < min_records:
        plan.notes.append(
            f"fine-tuning: {count} record(s), under the model's minimum of {min_records}: nothing starts"
        )
    else:
        plan.write_fine_tuning = True
    prompts = len(plan.distillation)
    if prompts and distillation_min is None:
        plan.notes.append(f"distillation: {prompts} prompt(s) without a trusted answer; {distillation_note}")
    elif prompts and distillation_min is not None and prompts < distillation_min:
        plan.notes.append(
            f"distillation: {prompts} prompt(s) without a trusted answer, under the {distillation_min} a "
            "distillation round takes: nothing starts"
        )
    elif prompts and distillation_min is not None:
        plan.write_distillation = True
    return plan


def _candidate(
    call: LoggedCall,
    feedback: Feedback | None,
    evaluation: Sequence[EvaluationItem],
    known: frozenset[str],
    settings: CurationConfig,
) -> Candidate:
    named = (feedback.category if feedback else None) or call.metadata.get(CATEGORY_METADATA_KEY)
    category = categorise(call.question, named, evaluation, known)
    if feedback is not None and feedback.corrected_answer:
        return Candidate(call, category, Trust.CORRECTED, feedback.corrected_answer, feedback.rating)
    if feedback is not None and feedback.rating >= settings.min_rating and call.answer:
        return Candidate(call, category, Trust.WELL_RATED, call.answer, feedback.rating)
    return Candidate(call, category, Trust.UNTRUSTED, None, feedback.rating if feedback else None)


def _trust_order(trust: str) -> int:
    return {Trust.CORRECTED: 0, Trust.WELL_RATED: 1}.get(trust, 2)


def _choice(candidate: Candidate, outcome: str, reason: str) -> Choice:
    call = candidate.call
    return Choice(call.request_id, call.question, candidate.category, outcome, reason)


def training_record(
    question: str, answer: str | None, system: str | None, data_format: DataFormat
) -> dict[str, Any]:
    """One record in the lineage's data format; without an answer, a distillation prompt
    (bedrock-conversation-2024 with its user turn only)."""
    if data_format is DataFormat.PROMPT_COMPLETION:
        return {"prompt": question, "completion": answer or ""}
    if data_format is DataFormat.CLAUDE_MESSAGES:
        record: dict[str, Any] = {"system": system} if system else {}
        record["messages"] = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer or ""},
        ]
        return record
    conversation: dict[str, Any] = {"schemaVersion": DataFormat.CONVERSATION.value}
    if system:
        conversation["system"] = [{"text": system}]
    messages = [{"role": "user", "content": [{"text": question}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"text": answer}]})
    conversation["messages"] = messages
    return conversation


def record_prompt(record: Any) -> str | None:
    """The prompt of a training record of any format (its last user turn), for duplicate checks."""
    if not isinstance(record, Mapping):
        return None
    if isinstance(record.get("prompt"), str):
        return str(record["prompt"])
    messages = record.get("messages")
    if not isinstance(messages, list):
        return None
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return message_text(users[-1].get("content")) or None if users else None


def redact(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """`text` with each entity span (DetectPiiEntities' BeginOffset/EndOffset, in characters) replaced by
    `[TYPE]`; overlapping spans are merged into the first."""
    spans = sorted(
        (int(e["BeginOffset"]), int(e["EndOffset"]), str(e.get("Type") or "PII"))
        for e in entities
        if 0 <= int(e["BeginOffset"]) < int(e["EndOffset"]) <= len(text)
    )
    parts, cursor = [], 0
    for begin, end, kind in spans:
        if begin < cursor:
            continue
        parts += [text[cursor:begin], f"[{kind}]"]
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def normalised(text: str) -> str:
    """The form exact duplicates share (near_duplicates.normalise), for reports."""
    return normalise(text)
