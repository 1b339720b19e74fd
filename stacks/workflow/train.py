"""Steps 1-4 of the round: validate the upload, begin the iteration, fine-tune, collect training metrics."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.workflow.fine_tune import fine_tune
from stacks.workflow.steps import Fragment, Steps, catch_failures


class Train(Fragment):
    """Validate dataset -> Begin iteration -> Fine-tune candidate -> Collect training metrics.

    An invalid upload leaves through `Mark invalid` (see `when_invalid`): invalid_data for the file,
    rejected for out-of-range hyperparameter overrides; it starts no training job.
    """

    def __init__(
        self, scope: Construct, construct_id: str, steps: Steps, *, on_failure: sfn.IChainable
    ) -> None:
        super().__init__(scope, construct_id)
        # 1. Validate the dataset and the upload's hyperparameter overrides.
        validate = steps.invoke(self, "Validate dataset", "validate", "$.validation")
        dataset_valid = sfn.Choice(self, "Dataset valid?")
        self.mark_invalid = sfn.Pass(
            self,
            "Mark invalid",
            parameters={
                "decision": sfn.JsonPath.string_at("$.validation.decision"),
                "reason": sfn.JsonPath.string_at("$.validation.reason"),
            },
            result_path="$.outcome",
        )
        # 2. Begin: parent, names and hyperparameters of this iteration.
        begin = steps.invoke(self, "Begin iteration", "begin", "$.round")
        # 4. Collect training metrics from the job's CSVs (created first: a found job rejoins here).
        collect_metrics = steps.invoke(self, "Collect training metrics", "collect_metrics", "$.training")
        # 3. Fine-tune: `createModelCustomizationJob.sync` (stacks/workflow/fine_tune.py), no transitions
        #    spent while the job trains. A CustomState, not tasks.BedrockCreateModelCustomizationJob, which
        #    drops `.sync` and needs the base model at synth (the champion, known only at run time).
        training = fine_tune(
            self,
            role_arn=steps.bedrock_role_arn,
            key_arn=steps.storage.key.key_arn,
            strategies=steps.config.strategies(),
            then=collect_metrics,
            on_failure=on_failure,
        )

        validate.next(dataset_valid)
        dataset_valid.when(sfn.Condition.boolean_equals("$.validation.valid", False), self.mark_invalid)
        dataset_valid.otherwise(begin)
        begin.next(training.start)
        catch_failures([validate, begin, *training.tasks, collect_metrics], on_failure)
        self._entered_at(validate, collect_metrics)

    def when_invalid(self, then: sfn.IChainable) -> None:
        """Where a rejected upload goes: straight to the end of the round (retention, Finish)."""
        self.mark_invalid.next(then)
