"""Every set of validation limits the validator knows, as pytest parameters named by model or family."""

import pytest
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    LLAMA_CONVERSATION,
    LLAMA_PROMPT_COMPLETION,
    NOVA,
    NOVA_MICRO,
    PROMPT_COMPLETION,
)

ALL_FAMILIES = [
    pytest.param(family, id=family.model or family.name)
    for family in (
        NOVA,
        NOVA_MICRO,
        CLAUDE_HAIKU,
        LLAMA_CONVERSATION,
        PROMPT_COMPLETION,
        LLAMA_PROMPT_COMPLETION,
    )
]
