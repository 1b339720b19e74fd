"""A round's cost estimate and the monthly budget check, against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from iterft_runtime.logic.cost import (
    CostInputError,
    RoundCost,
    budget_check,
    estimate_round_cost,
    month_of,
)
from iterft_runtime.models.families import LLAMA_CONVERSATION, NOVA
from iterft_runtime.models.lineage import CostConfig
from iterft_runtime.models.records import COST_KEYS

FINISH = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
PRICED = CostConfig(training_usd_per_1k_tokens=0.008, evaluation_capacity_usd_per_hour=2.0)
UNPRICED = CostConfig()


def capacity(kind: str, created_at: str, units: int = 1, role: str = "candidate") -> dict[str, Any]:
    return {
        "kind": kind,
        "arn": f"arn:aws:bedrock:us-east-1:123456789012:{kind}/{role}",
        "model_arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/m",
        "role": role,
        "model_units": units,
        "created_at": created_at,
    }


def round_doc(
    *,
    valid: bool = True,
    tokens: int = 10_000,
    began: bool = True,
    hyperparameters: dict[str, str] | None = None,
    capacities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"validation": {"valid": valid, "estimated_tokens": tokens}}
    if began:
        doc["round"] = {
            "hyperparameters": {"epochCount": "3"} if hyperparameters is None else hyperparameters
        }
    if capacities is not None:
        doc["capacity"] = {"evaluation": capacities}
    return doc


@pytest.mark.parametrize(
    ("doc", "prices", "family", "expected"),
    [
        pytest.param(
            # 10,000 tokens x 3 epochs = 30,000 -> 30 x $0.008 = $0.24; an on-demand deployment has no
            # hourly charge (billed by the token), so its 1.5 h count nothing.
            round_doc(capacities=[capacity("deployment", "2026-11-25T09:00:00Z")]),
            PRICED,
            NOVA,
            RoundCost(10_000, 3, 0.24, 0.0, 0.0),
            id="promoted-on-demand",
        ),
        pytest.param(
            # One model unit 09:00 -> 10:30 = 1.5 h x $2 = $3.
            round_doc(capacities=[capacity("provisioned", "2026-11-25T09:00:00Z")]),
            PRICED,
            NOVA,
            RoundCost(10_000, 3, 0.24, 1.5, 3.0),
            id="promoted-provisioned",
        ),
        pytest.param(
            # nova's default 2 epochs: 20,000 tokens -> $0.16; one unit 09:45 -> 10:30 = 0.75 h,
            # a two-unit throughput 10:00 -> 10:30 = 0.5 h x 2 units = 1 h: 1.75 h x $2 = $3.50.
            round_doc(
                hyperparameters={},
                capacities=[
                    capacity("provisioned", "2026-11-25T09:45:00Z"),
                    capacity("provisioned", "2026-11-25T10:00:00+00:00", units=2, role="champion"),
                ],
            ),
            PRICED,
            NOVA,
            RoundCost(10_000, 2, 0.16, 1.75, 3.5),
            id="provisioned-default-epochs",
        ),
        pytest.param(
            # llama-conversation's default is 5 epochs: 50,000 tokens -> $0.40.
            round_doc(hyperparameters={}, capacities=[]),
            PRICED,
            LLAMA_CONVERSATION,
            RoundCost(10_000, 5, 0.4, 0.0, 0.0),
            id="family-default-epochs",
        ),
        pytest.param(
            round_doc(valid=False, began=False), PRICED, NOVA, RoundCost(0, 0, 0.0, 0.0, 0.0), id="invalid"
        ),
        pytest.param(
            round_doc(valid=False, began=False),
            UNPRICED,
            NOVA,
            RoundCost(0, 0, 0.0, 0.0, 0.0),
            id="invalid-unpriced",
        ),
        pytest.param(
            # Failed before Begin: no job, no capacity.
            round_doc(began=False),
            PRICED,
            NOVA,
            RoundCost(0, 0, 0.0, 0.0, 0.0),
            id="failed-before-training",
        ),
        pytest.param(
            # Failed after training, while the candidate's throughput (since 10:15) was up: 0.25 h.
            round_doc(capacities=[capacity("provisioned", "2026-11-25T10:15:00Z")]),
            PRICED,
            NOVA,
            RoundCost(10_000, 3, 0.24, 0.25, 0.5),
            id="failed-during-evaluation",
        ),
        pytest.param(
            # Without prices the quantities are still recorded; dollars null, a zero quantity $0.
            round_doc(),
            UNPRICED,
            NOVA,
            RoundCost(10_000, 3, None, 0.0, 0.0),
            id="unpriced",
        ),
        pytest.param(
            # A capacity stamped after Finish (clock skew) counts nothing rather than negative hours.
            round_doc(capacities=[capacity("provisioned", "2026-11-25T10:31:00Z")]),
            PRICED,
            NOVA,
            RoundCost(10_000, 3, 0.24, 0.0, 0.0),
            id="capacity-after-finish",
        ),
    ],
)
def test_round_cost(doc: dict[str, Any], prices: CostConfig, family: Any, expected: RoundCost) -> None:
    cost = estimate_round_cost(doc, prices, family, FINISH)
    assert cost.to_dict() == pytest.approx(expected.to_dict())


def test_total_is_the_sum_and_null_when_a_price_is_missing() -> None:
    assert RoundCost(10_000, 3, 0.24, 1.5, 3.0).total_usd == pytest.approx(3.24)
    assert RoundCost(10_000, 3, 0.24, 1.5, None).total_usd is None
    assert RoundCost(10_000, 3, None, 0.0, 0.0).to_dict()["total_usd"] is None


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            round_doc(capacities=[{"kind": "provisioned", "role": "candidate"}]), id="no-created-at"
        ),
        pytest.param(round_doc(capacities=[capacity("provisioned", "yesterday")]), id="not-iso"),
        pytest.param(
            round_doc(capacities=[capacity("provisioned", "2026-11-25T09:00:00Z", units=0)]), id="zero-units"
        ),
        pytest.param(round_doc(hyperparameters={"epochCount": "many"}), id="bad-epochs"),
    ],
)
def test_unreadable_state_is_an_error_not_a_guess(doc: dict[str, Any]) -> None:
    with pytest.raises(CostInputError):
        estimate_round_cost(doc, PRICED, NOVA, FINISH)


BUDGET = CostConfig(
    training_usd_per_1k_tokens=0.008, evaluation_capacity_usd_per_hour=2.0, monthly_budget_usd=50
)


@pytest.mark.parametrize(
    ("prices", "spend_month", "spend_usd", "expected"),
    [
        pytest.param(PRICED, "2026-11", 1e9, None, id="no-budget"),
        pytest.param(BUDGET, None, None, (0.0, False), id="nothing-spent-yet"),
        pytest.param(BUDGET, "2026-11", 49.99, (49.99, False), id="under"),
        pytest.param(BUDGET, "2026-11", 50.0, (50.0, True), id="exactly-reached"),
        pytest.param(BUDGET, "2026-11", 75.0, (75.0, True), id="over"),
        pytest.param(BUDGET, "2026-10", 75.0, (0.0, False), id="last-months-spend-does-not-count"),
    ],
)
def test_budget_check(
    prices: CostConfig, spend_month: str | None, spend_usd: float | None, expected: tuple[float, bool] | None
) -> None:
    check = budget_check(prices, spend_month, spend_usd, FINISH)
    if expected is None:
        assert check is None
        return
    assert check is not None
    assert (check.month, check.spend_usd, check.reached, check.budget_usd) == ("2026-11", *expected, 50)


def test_months_are_utc_calendar_months() -> None:
    assert month_of(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-11"
    assert month_of(datetime.fromisoformat("2026-12-01T00:30:00+02:00")) == "2026-11"
    assert month_of(datetime(2026, 12, 1, 0, 0, tzinfo=UTC)) == "2026-12"


def test_the_estimate_has_the_fields_the_history_shows() -> None:
    assert tuple(RoundCost(1, 1, 0.1, 0.0, 0.0).to_dict()) == COST_KEYS
