"""The training data of every strategy but fine-tuning, and of a family with rules of its own (Nova 2 Lite):
each problem with its line and a stable code, as validation.py reports fine-tuning data.

Each line takes the exact path (validation_records' RecordChecker: parsing, blank lines, the token
estimate, reserved tokens and duplicates as for fine-tuning), with the format's own rules in place of the
fine-tuning format's. No typed decoder proves these formats' lines clean, so they validate at the exact
path's speed, not the fast path's (docs/dataset-validation.md); their files are small (at most 15,000 or
20,000 records).

What each one must meet. Pages are the Bedrock user guide's (docs.aws.amazon.com/bedrock/latest/userguide/
<page>.html) unless named otherwise; where the pages are silent, the family's fine-tuning limit holds:
- distillation (distillation-data-prep-option-1, prequisites-model-distillation,
  distillation-prepare-datasets; the Nova guide's custom-distill-prepare): bedrock-conversation-2024
  prompts, assistant turns optional (a record may end with a user turn; when present, the usual rules
  hold); text only; Anthropic and Llama students take single-turn prompts (one user turn), Nova students
  multi-turn ones; 100 to 15,000 prompts (custom-distill-prepare's limits: 100 to 15K; Bedrock fails a job
  under 100: "Input data must have at minimum 100 valid prompts"); at most 1 GB (AWS's distillation dataset
  validator, amazon-bedrock-samples custom-models/model_distillation/dataset-validation); tokens a record
  and reserved tokens: the family's.
- reinforcement (rft-prepare-data; the Nova guide's nova-data-prep-rft-2): OpenAI chat `messages` (roles
  system, user, assistant; `content` a non-empty string; a system turn only first, as AWS's Nova dataset
  validator requires; the last turn the user's) and `reference_answer` (required: any JSON value but
  null); other members are allowed (they are passed to the grader); 100 to 20,000 records; tokens a
  record, file size and reserved tokens: the family's.
- continued pre-training (dataset-prep-continued-pretraining, model-training-validation-requirements):
  `{"input": "<text>"}` and no other key; 4,096 tokens a record (the family's); training file 10 GB,
  validation file 100 MB; no page gives a record count: the family's (1 to 10,000).
- Nova 2 Lite fine-tuning (nova-2-sft-data-prep; AWS's Nova dataset validator, see docs/dataset-validation
  .md): Nova 1's rules with Nova 2's media formats, plus `{"reasoningContent": {"reasoningText": {"text":
  ...}}}` blocks in assistant turns (whose answer is still a text block); tool use (`toolUse`, `toolResult`,
  `toolConfig`) "might cause your job to fail": refused; no validation file.
A validation file is checked for continued pre-training (dataset-prep-continued-pretraining: "optional
validation dataset"); for distillation and reinforcement no page names one, so one is refused unread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from iterft_runtime.logic.lines import TruncatedLine
from iterft_runtime.logic.validation_records import RecordChecker
from iterft_runtime.logic.validation_report import ValidationReport
from iterft_runtime.logic.validation_rules import (
    Add,
    ConversationRules,
    _check_keys,  # the exact path's own helpers, shared rather than written again
    _messages,
    _non_empty_string,
    shown,
    type_name,
)
from iterft_runtime.models import capabilities
from iterft_runtime.models.families import DataFormat, ModelFamily
from iterft_runtime.models.strategy_names import Strategy

_GB = 1024**3

FormatCheck = Callable[[int, dict[str, Any], Add], Iterator[str]]
"""A format's rules for one parsed record: problems through `add`, its texts yielded (the token estimate
and reserved tokens are the RecordChecker's)."""

DISTILLATION_PROMPTS = (100, 15_000)
"""Fewest and most prompts a distillation job takes (custom-distill-prepare; the stand-in's job_data too)."""
DISTILLATION_MAX_FILE_BYTES = 1 * _GB
RFT_RECORDS = (100, 20_000)
"""Fewest and most records a reinforcement fine-tuning job takes (rft-prepare-data)."""
CPT_MAX_FILE_BYTES = 10 * _GB
"""Continued pre-training's training file (model-training-validation-requirements; fine-tuning's is 1 GB)."""
MULTI_TURN_STUDENTS = frozenset({"nova"})
"""Families whose distillation prompts may hold several user turns; Anthropic and Llama students take one."""
RFT_ROLES = ("system", "user", "assistant")
RFT_MESSAGE_KEYS = frozenset({"role", "content"})
CPT_KEYS = frozenset({"input"})
TOOL_KEYS = ("toolUse", "toolResult")
NOVA_2_SFT_PAGE = "nova-2-sft-data-prep"


def families_for(strategy: Strategy) -> frozenset[str]:
    """The families whose models the capability table lets `strategy` customize (anywhere)."""
    kind = strategy.customization_type
    return frozenset(
        row.family for row in capabilities.MODELS.values() if row.family and kind in row.customization
    )


def strategy_problem(family: ModelFamily, strategy: Strategy) -> str | None:
    """Why `family`'s data cannot be checked for `strategy` (None: it can)."""
    if strategy is Strategy.FINE_TUNING:
        return None
    families = families_for(strategy)
    if family.name in families:
        return None
    named = f"{', '.join(sorted(families))} {'family' if len(families) == 1 else 'families'}"
    return (
        f"the {family.name} family has no {strategy} data: {strategy} customizes models of the {named} "
        "(docs/capabilities.md)"
    )


def needs_own_rules(family: ModelFamily, strategy: Strategy) -> bool:
    """Whether this module, not validation.py's fine-tuning path, checks `family`'s data for `strategy`."""
    return strategy is not Strategy.FINE_TUNING or family.reasoning_content


@dataclass(frozen=True)
class DataRules:
    """What one strategy's data must meet for one family."""

    data_format: str
    """How the report names the format."""
    limits: ModelFamily
    """The family with this strategy's record, token and file limits (what RecordChecker reads)."""
    rules: Callable[[ModelFamily], tuple[FormatCheck, dict[str, int]]]
    """The record rules for the family, and the dict they fill with each media kind's first line."""
    records: str = "records"
    """What a record is called in the count's message."""
    why_minimum: str = ""
    """Said after a count under the minimum."""
    no_validation_file: str = ""
    """Why a validation file is refused ("" when one is taken)."""


def data_rules(family: ModelFamily, strategy: Strategy) -> DataRules:
    """The rules of `strategy`'s data for `family` (strategy_problem says first whether there are any)."""
    if strategy is Strategy.DISTILLATION:
        fewest, most = DISTILLATION_PROMPTS
        return DataRules(
            data_format=f"{DataFormat.CONVERSATION.value} (distillation prompts)",
            limits=replace(
                family, min_records=fewest, max_records=most, max_file_bytes=DISTILLATION_MAX_FILE_BYTES
            ),
            rules=_distillation,
            records="prompts",
            why_minimum="Bedrock fails a distillation job with fewer (custom-distill-prepare)",
            no_validation_file=(
                "iterft checks no validation file for distillation (no distillation page names one)"
            ),
        )
    if strategy is Strategy.REINFORCEMENT:
        fewest, most = RFT_RECORDS
        return DataRules(
            data_format="openai-chat (reinforcement fine-tuning)",
            limits=replace(family, min_records=fewest, max_records=most),
            rules=lambda _: (check_reinforcement, {}),
            why_minimum="a reinforcement fine-tuning job takes no fewer (rft-prepare-data)",
            no_validation_file=(
                "iterft checks no validation file for reinforcement fine-tuning (rft-prepare-data names none)"
            ),
        )
    if strategy is Strategy.CONTINUED_PRE_TRAINING:
        return DataRules(
            data_format="continued-pre-training-input",
            limits=replace(family, max_file_bytes=CPT_MAX_FILE_BYTES),
            rules=lambda _: (check_continued_pre_training, {}),
        )
    if not family.reasoning_content:
        raise ValueError(
            f"fine-tuning data of the {family.name} family is validation.validate_lines' to check"
        )
    return DataRules(
        data_format=family.data_format.value,
        limits=family,
        rules=_nova_2_conversation,
        no_validation_file=(
            f"{family.name} takes no validation set during fine-tuning ({NOVA_2_SFT_PAGE}): "
            "train on the training file alone"
            if not family.takes_validation_set
            else ""
        ),
    )


def minimum_records(family: ModelFamily, strategy: Strategy) -> int:
    """The fewest training records a round of `strategy` on `family` takes (what too_few_records checks)."""
    if needs_own_rules(family, strategy) and strategy_problem(family, strategy) is None:
        return data_rules(family, strategy).limits.min_records
    return family.min_records


def validate_strategy_lines(
    lines: Iterable[bytes],
    family: ModelFamily,
    strategy: Strategy,
    *,
    validation_file: bool = False,
    declared_size: int | None = None,
) -> ValidationReport:
    """Validate JSONL `lines` as `strategy`'s data for `family`, in one streaming pass (validate_lines'
    contract: every problem with its line, exact counts, capped examples, file-level problems last)."""
    rules = data_rules(family, strategy)
    report = ValidationReport(
        family=family.name,
        data_format=rules.data_format,
        model=family.model,
        validation_file=validation_file,
        strategy=strategy.value,
    )
    refused = strategy_problem(family, strategy) or (validation_file and rules.no_validation_file)
    if refused:
        code = (
            "no_validation_file" if validation_file and rules.no_validation_file else "unsupported_strategy"
        )
        report.add(None, code, refused)
        return report
    limits = rules.limits
    if validation_file:
        fewest, most, max_bytes = 1, limits.validation_max_records, limits.validation_max_file_bytes
    else:
        fewest, most, max_bytes = limits.min_records, limits.max_records, limits.max_file_bytes
    kind = f"{strategy} {'validation' if validation_file else 'training'}".replace("_", " ")
    if declared_size is not None and declared_size > max_bytes:
        report.size_bytes = declared_size
        report.add(
            None,
            "file_too_large",
            f"the file is {declared_size:,} bytes; a {kind} file may have at most {max_bytes:,}",
        )
        return report

    checker = RecordChecker(limits, report)
    checker.check_format, checker.first_media_line = rules.rules(family)
    for number, raw in enumerate(lines, start=1):
        report.size_bytes += raw.full_length if isinstance(raw, TruncatedLine) else len(raw)
        if report.size_bytes > max_bytes:
            report.add(
                None,
                "file_too_large",
                f"the file is over {report.size_bytes:,} bytes; a {kind} file "
                f"may have at most {max_bytes:,}; reading stopped here",
            )
            break
        if number == 1:
            checker.check_first_bytes(raw)
        checker.check_line(number, raw)
    checker.check_file()

    count = f"{report.records} {rules.records}"
    if report.records == 0:
        report.add(None, "empty_file", "the file has no records")
    elif report.records < fewest:
        why = f": {rules.why_minimum}" if rules.why_minimum else ""
        report.add(None, "too_few_records", f"{count}; at least {fewest} are needed{why}")
    elif report.records > most:
        report.add(None, "too_many_records", f"{count}; at most {most} are allowed")
    report.problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    return report


def _distillation(family: ModelFamily) -> tuple[FormatCheck, dict[str, int]]:
    """Conversation prompts: the fine-tuning format's rules but the last turn's, text only, and one user
    turn a record for students other than Nova's."""
    # The family's own limits, without media: "distillation takes text only, no images" names the rule.
    conversation = ConversationRules(replace(family, media=None, model="distillation"))
    single_turn = family.name not in MULTI_TURN_STUDENTS

    def check(number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
        def add_unless_unfinished(line: int | None, code: str, message: str) -> None:
            if code != "must_end_with_assistant":  # a prompt awaits the teacher's answer
                add(line, code, message)

        yield from conversation.check(number, record, add_unless_unfinished)
        messages = record.get("messages")
        if single_turn and isinstance(messages, list):
            users = sum(
                1 for message in messages if isinstance(message, dict) and message.get("role") == "user"
            )
            if users > 1:
                add(
                    number,
                    "multi_turn_prompt",
                    f"{users} user turns; a {family.name} student takes single-turn prompts: one user turn, "
                    "optionally followed by the answer (distillation-data-prep-option-1)",
                )

    return check, conversation.first_media_line


def check_reinforcement(number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
    """An OpenAI chat prompt for the model to answer, and the reference the grader scores answers against."""
    if record.get("reference_answer") is None:
        add(number, "missing_key", "reference_answer is missing (the grader scores answers against it)")
    elif isinstance(record["reference_answer"], str) and not record["reference_answer"].strip():
        add(number, "empty_text", "reference_answer is empty")
    roles: list[str | None] = []
    for index, message in enumerate(_messages(number, record, add), start=1):
        if message is None:
            roles.append(None)
            continue
        _check_keys(number, message, RFT_MESSAGE_KEYS, f"messages[{index}]", add)
        role = message.get("role")
        if role is None:
            add(number, "missing_key", f"messages[{index}].role is missing")
        elif role not in RFT_ROLES:
            add(
                number,
                "bad_role",
                f'messages[{index}].role is {shown(role)}; use "system", "user" or "assistant"',
            )
        roles.append(role if role in RFT_ROLES else None)
        content = _non_empty_string(number, message.get("content"), f"messages[{index}].content", add)
        if content is not None:
            yield content
    if roles and None not in roles:
        late = next((index for index, role in enumerate(roles[1:], start=2) if role == "system"), None)
        if late is not None:
            add(
                number,
                "system_not_first",
                f"messages[{late}] is a system turn; a system turn may only come first",
            )
        if roles[-1] != "user":
            add(
                number,
                "must_end_with_user",
                "the last message must be from the user: the prompt the model answers",
            )


def check_continued_pre_training(number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
    """Unlabeled text: `{"input": "<text>"}`."""
    _check_keys(number, record, CPT_KEYS, "the record", add)
    text = _non_empty_string(number, record.get("input"), "input", add)
    if text is not None:
        yield text


def _nova_2_conversation(family: ModelFamily) -> tuple[FormatCheck, dict[str, int]]:
    rules = Nova2Conversation(family)
    return rules.check, rules.first_media_line


class Nova2Conversation(ConversationRules):
    """Nova 1's conversation rules, plus reasoning in assistant turns and a reason for refusing tool use."""

    def __init__(self, family: ModelFamily) -> None:
        super().__init__(family)
        self.reasoning: list[str] = []
        """The current record's reasoning texts (counted toward its tokens, searched for reserved tokens)."""

    def check(self, number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
        self.reasoning = []
        if "toolConfig" in record:
            add(number, "tool_use_unsupported", _tool_use("toolConfig"))
        yield from super().check(number, record, add)
        yield from self.reasoning
        messages = record.get("messages")
        for index, message in enumerate(messages if isinstance(messages, list) else [], start=1):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            blocks = message.get("content")
            keys = (
                {key for block in blocks if isinstance(block, dict) for key in block}
                if isinstance(blocks, list)
                else set()
            )
            if "reasoningContent" in keys and "text" not in keys:
                add(
                    number,
                    "reasoning_without_answer",
                    f"messages[{index}] has reasoning but no text block: the answer follows the reasoning",
                )

    def _other_block(
        self, number: int, where: str, role: str | None, block: object, media: dict[str, int], add: Add
    ) -> None:
        if isinstance(block, dict) and "reasoningContent" in block:
            self._reasoning_block(number, f"{where}.reasoningContent", role, block["reasoningContent"], add)
        elif isinstance(block, dict) and any(key in block for key in TOOL_KEYS):
            add(
                number,
                "tool_use_unsupported",
                f"{where}: " + _tool_use(next(k for k in TOOL_KEYS if k in block)),
            )
        else:
            super()._other_block(number, where, role, block, media, add)

    def _reasoning_block(self, number: int, where: str, role: str | None, value: object, add: Add) -> None:
        if role == "user":
            add(number, "reasoning_in_user_turn", f"{where}: reasoning belongs in assistant turns only")
        reasoning = value.get("reasoningText") if isinstance(value, dict) else None
        text = reasoning.get("text") if isinstance(reasoning, dict) else None
        if not isinstance(text, str):
            add(
                number,
                "wrong_type",
                f'{where} must be {{"reasoningText": {{"text": "..."}}}}, found {type_name(value)} without '
                f"one ({self.family.name} takes text reasoning only: {NOVA_2_SFT_PAGE})",
            )
        elif not text or text.isspace():
            add(number, "empty_text", f"{where}.reasoningText.text is empty")
        else:
            self.reasoning.append(text)


def _tool_use(key: str) -> str:
    return (
        f"{key}: Nova 2 Lite fine-tuning does not support tool use yet, and tool sections might cause "
        f"the job to fail ({NOVA_2_SFT_PAGE})"
    )
