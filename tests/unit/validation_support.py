"""Records, files and problem lists of the validator's tests (test_logic_validation*.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from iterft_runtime.logic import validation
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    NOVA,
    ModelFamily,
    family_for_model,
)


def turn(role: str, text: Any) -> dict[str, Any]:
    return {"role": role, "content": [{"text": text}]}


def conv(*turns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemaVersion": "bedrock-conversation-2024", "messages": list(turns), **extra}


GOOD_CONV = conv(turn("user", "hi"), turn("assistant", "hello"))


def lines_of(*records: Any) -> list[bytes]:
    return [(r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records]


def padded(family: ModelFamily, *records: Any) -> list[bytes]:
    """`records` followed by distinct valid records up to the family's minimum count."""
    filler = max(family.min_records - len(records), 0)
    if family.data_format is NOVA.data_format:
        extra = [conv(turn("user", f"q{i}"), turn("assistant", f"a{i}")) for i in range(filler)]
    elif family.data_format is CLAUDE_HAIKU.data_format:
        extra = [
            {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(filler)
        ]
    else:
        extra = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(filler)]
    return lines_of(*records, *extra)


def problems(report: validation.ValidationReport) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in report.problems]


CLAUDE_GOOD = {
    "system": "be brief",
    "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
}


def image(fmt: str = "png", uri: Any = "s3://data/media/a.png") -> dict[str, Any]:
    return {"image": {"format": fmt, "source": {"s3Location": {"uri": uri}}}}


def video(fmt: str = "mp4", uri: Any = "s3://data/media/a.mp4") -> dict[str, Any]:
    return {"video": {"format": fmt, "source": {"s3Location": {"uri": uri}}}}


def asking(*blocks: Any) -> dict[str, Any]:
    return conv({"role": "user", "content": [*blocks, {"text": "what is this?"}]}, turn("assistant", "a cat"))


LITE = family_for_model("amazon.nova-lite-v1:0:300k")
MICRO = family_for_model("amazon.nova-micro-v1:0:128k")


def filler(family: ModelFamily, count: int, text: str = "") -> Iterator[bytes]:
    """`count` distinct valid records of `family`'s format, the first one's question being `text` if given."""
    for i in range(count):
        yield from padded_records(family, f"{text if i == 0 and text else 'q'}{i}")


def padded_records(family: ModelFamily, question: str) -> list[bytes]:
    if family.data_format is NOVA.data_format:
        record: Any = conv(turn("user", question), turn("assistant", "a"))
    elif family.data_format is CLAUDE_HAIKU.data_format:
        record = {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": "a"}]}
    else:
        record = {"prompt": question, "completion": "a"}
    return lines_of(record)
