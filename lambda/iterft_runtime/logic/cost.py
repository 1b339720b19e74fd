"""A round's estimated cost, and the monthly budget rounds count against (plain logic, no AWS).

estimate = training tokens x epochs / 1,000 x `cost.training_usd_per_1k_tokens`
         + evaluation capacity hours x `cost.evaluation_capacity_usd_per_hour`

- Training tokens are the Validate step's conservative estimate of the dataset's tokens
  (`$.validation.estimated_tokens`), counted only when the round began training (`$.round`
  present); epochs are the round's `epochCount`, else the family's default.
- Capacity hours are the model-unit hours of the provisioned throughput the round created for
  evaluation (`$.capacity.evaluation`), from its `created_at` to the Finish time. An on-demand
  custom model deployment has no hourly charge (its inference is billed by the token), so it counts
  0 hours. A capacity that became the serving one stops counting at Finish: from then on it is the
  lineage's serving cost, not the round's.
- Invalid data and rejected overrides cost 0; a failed round costs what it used.

The cost of progress: a decided round that improved its primary metric records its estimate per point
(0.01) of that improvement (`cost_per_point`); `gate.max_cost_per_point_usd` counts a dearer round as
marginal for the plateau rule.

It is an estimate: Bedrock bills the job's real token count, and an on-demand deployment's
inference by the token. Unset prices leave the dollars null (the tokens and hours are still
recorded); a quantity of 0 costs $0 whatever its price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iterft_runtime.models.families import ModelFamily
from iterft_runtime.models.lineage import CostConfig

TOKENS_PER_PRICE = 1_000
"""The training price is per this many tokens."""
DIGITS = 6
"""Dollars and hours are kept to a millionth: far finer than the estimate, and free of float noise."""
PROVISIONED = "provisioned"


class CostInputError(ValueError):
    """The round's state holds something the estimate cannot read (e.g. a capacity without created_at)."""


@dataclass(frozen=True)
class RoundCost:
    """What one round is estimated to have cost (the iteration's `cost`)."""

    training_tokens: int
    """The dataset's estimated tokens, per epoch (0 when no training began)."""
    epochs: int
    training_usd: float | None
    capacity_hours: float
    """Hours of evaluation capacity, per model unit for provisioned throughput."""
    capacity_usd: float | None

    @property
    def total_usd(self) -> float | None:
        """Training plus capacity; None when either's price is unset."""
        if self.training_usd is None or self.capacity_usd is None:
            return None
        return round(self.training_usd + self.capacity_usd, DIGITS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "training_tokens": self.training_tokens,
            "epochs": self.epochs,
            "training_usd": self.training_usd,
            "capacity_hours": self.capacity_hours,
            "capacity_usd": self.capacity_usd,
            "total_usd": self.total_usd,
        }


@dataclass(frozen=True)
class BudgetCheck:
    """This month's spend against the lineage's monthly budget."""

    month: str
    """`YYYY-MM`, UTC."""
    spend_usd: float
    budget_usd: float

    @property
    def reached(self) -> bool:
        return self.spend_usd >= self.budget_usd


def estimate_round_cost(
    doc: Mapping[str, Any], prices: CostConfig, family: ModelFamily, finished_at: datetime
) -> RoundCost:
    """The estimate of the round whose state document is `doc`, finishing at `finished_at`."""
    validation, begun = _section(doc, "validation"), _section(doc, "round")
    if validation.get("valid") is not True:
        return RoundCost(0, 0, 0.0, 0.0, 0.0)
    trained = bool(begun)
    tokens = int(validation.get("estimated_tokens") or 0) if trained else 0
    epochs = training_epochs(_section(begun, "hyperparameters"), family) if trained else 0
    hours = capacity_hours(_section(doc, "capacity").get("evaluation") or [], finished_at)
    return RoundCost(
        training_tokens=tokens,
        epochs=epochs,
        training_usd=_priced(tokens * epochs / TOKENS_PER_PRICE, prices.training_usd_per_1k_tokens),
        capacity_hours=hours,
        capacity_usd=_priced(hours, prices.evaluation_capacity_usd_per_hour),
    )


def training_epochs(hyperparameters: Mapping[str, Any], family: ModelFamily) -> int:
    """The round's epochCount (sent to Bedrock as a string), else the family's default."""
    value = hyperparameters.get("epochCount")
    if value is None:
        return int(family.hyperparameters["epochCount"].default)
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise CostInputError(f"epochCount {value!r} is not a number") from None


def capacity_hours(capacities: Sequence[Mapping[str, Any]], finished_at: datetime) -> float:
    """Model-unit hours of provisioned throughput from its creation to `finished_at` (deployments: 0)."""
    total = 0.0
    for capacity in capacities:
        if capacity.get("kind") != PROVISIONED:
            continue
        created = parse_time(capacity.get("created_at"))
        units = _model_units(capacity.get("model_units"))
        total += max(0.0, (finished_at - created).total_seconds()) / 3600 * units
    return round(total, DIGITS)


POINT = 0.01
"""One point of a 0..1 score: what the cost of progress is counted per."""


def cost_per_point(total_usd: float | None, improvement: float) -> float | None:
    """The round's estimated cost per point (0.01) of primary improvement; None when it has no dollars or
    no gain to divide by (a round that did not improve has no price per point: it bought none)."""
    if total_usd is None or improvement <= 0:
        return None
    return round(total_usd / (improvement / POINT), DIGITS)


def costly_note(per_point: float, limit: float) -> str:
    """What a round whose gain cost too much says: that it counted as marginal for the plateau rule."""
    return (
        f"cost of progress: {money_per_point(per_point)} per point of improvement, more than "
        f"gate.max_cost_per_point_usd ${limit:,.2f}: counted as marginal towards a plateau"
    )


def money_per_point(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def budget_check(
    prices: CostConfig, spend_month: str | None, spend_usd: float | None, now: datetime
) -> BudgetCheck | None:
    """The lineage's budget against what STATE has counted this month; None without a budget."""
    if prices.monthly_budget_usd is None:
        return None
    month = month_of(now)
    spent = float(spend_usd or 0.0) if spend_month == month else 0.0
    return BudgetCheck(month=month, spend_usd=spent, budget_usd=prices.monthly_budget_usd)


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a moment falls in, `YYYY-MM`: the key the spend is counted under."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def parse_time(value: object) -> datetime:
    """An ISO-8601 timestamp (`Z` or an offset; none means UTC) as an aware datetime."""
    if not isinstance(value, str) or not value:
        raise CostInputError(f"timestamp {value!r} is missing or not a string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CostInputError(f"timestamp {value!r} is not ISO-8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _model_units(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise CostInputError(f"model_units {value!r} is not a positive number")
    return int(value)


def _priced(quantity: float, price: float | None) -> float | None:
    if quantity == 0:
        return 0.0
    return None if price is None else round(quantity * price, DIGITS)


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}
