"""The training strategies by name, without pydantic: the dataset validator and `iterft validate` name a
round's strategy without importing the settings models of models/strategy.py (a third of a second)."""

from __future__ import annotations

from enum import StrEnum

from iterft_runtime.models.capabilities import CustomizationType


class Strategy(StrEnum):
    """A round's training strategy, as the config, S3 metadata and `iterft start --strategy` name it."""

    FINE_TUNING = "fine_tuning"
    DISTILLATION = "distillation"
    REINFORCEMENT = "reinforcement"
    CONTINUED_PRE_TRAINING = "continued_pre_training"

    @property
    def customization_type(self) -> CustomizationType:
        """CreateModelCustomizationJob's `customizationType` for this strategy."""
        return _CUSTOMIZATION_TYPES[self]


_CUSTOMIZATION_TYPES = {
    Strategy.FINE_TUNING: CustomizationType.FINE_TUNING,
    Strategy.DISTILLATION: CustomizationType.DISTILLATION,
    Strategy.REINFORCEMENT: CustomizationType.REINFORCEMENT_FINE_TUNING,
    Strategy.CONTINUED_PRE_TRAINING: CustomizationType.CONTINUED_PRE_TRAINING,
}
