"""Step 8 of the round: promote the candidate (swap it into the serving capacity in place, wait until it
serves, move the registry and the pointer) or discard it (delete the evaluation capacity)."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.workflow.poll import until_serving
from stacks.workflow.steps import Fragment, Steps, catch_failures


class PromoteOrDiscard(Fragment):
    """Prepare promotion -> Swap serving model -> (poll until it serves) -> Promote candidate, or
    Discard candidate; either way Record outcome.

    Entered at its start (promote), at `discard`, or, for a rollback, at `swap_serving`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, steps: Steps, *, on_failure: sfn.IChainable
    ) -> None:
        super().__init__(scope, construct_id)
        prepare_promotion = sfn.Pass(
            self,
            "Prepare promotion",
            parameters={
                "model_arn": sfn.JsonPath.string_at("$.training.output_model_arn"),
                "score": sfn.JsonPath.number_at("$.evaluation.candidate_score"),
                "metrics": sfn.JsonPath.object_at("$.evaluation.candidate_metrics"),
                "eval_set_version": sfn.JsonPath.string_at("$.evaluation.eval_set_version"),
                "metric": sfn.JsonPath.string_at("$.evaluation.metric"),
                "decision": "promoted",
            },
            result_path="$.promotion",
        )
        self.swap_serving = steps.invoke(self, "Swap serving model", "swap_serving", "$.swap")
        promote = steps.invoke(self, "Promote candidate", "promote", "$.promoted")
        serving = until_serving(
            self, "serving capacity", steps, "$.swap.targets", then=promote, on_failure=on_failure
        )
        self.discard = steps.invoke(self, "Discard candidate", "release_capacity", sfn.JsonPath.DISCARD)
        record_outcome = sfn.Pass(
            self,
            "Record outcome",
            parameters={
                "decision": sfn.JsonPath.string_at("$.decision.decision"),
                "reason": sfn.JsonPath.string_at("$.decision.reason"),
            },
            result_path="$.outcome",
        )

        prepare_promotion.next(self.swap_serving).next(serving)
        promote.next(record_outcome)
        self.discard.next(record_outcome)
        catch_failures([self.swap_serving, promote, self.discard], on_failure)
        self._entered_at(prepare_promotion, record_outcome)
