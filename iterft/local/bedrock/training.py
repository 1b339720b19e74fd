"""How a customization job trains, by customization type: the stand-in model learns honestly from the data.

* FINE_TUNING: (prompt, answer) pairs of the base model's family (`StandInModel.train`).
* CONTINUED_PRE_TRAINING: `{"input"}` texts: the loss model reads them, the answers stay the base's
  (`StandInModel.pretrain`).
* DISTILLATION: the teacher (a foundation model of the stand-in, knowing its corpus: `load_teacher_corpus`)
  answers every prompt of the prompts file or the invocation logs, and the student is trained on the
  teacher's answers; with `usePromptResponse`, on the teacher's logged answers instead.
* REINFORCEMENT_FINE_TUNING: the grader Lambda function rewards the model's sampled answers
  (`standin_reinforcement.reinforce`), invoked through the embedded Lambda service as the job's role.

Everything here runs as the job's service role (`StandInCore._as_job_role`): a read, a teacher call or a
grader invocation its policies do not allow fails the job, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from iterft_runtime.models.capabilities import CustomizationType
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend as get_lambda_backend

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.invocation_logs import LoggedInvocation, invocations, selected
from iterft.local.bedrock.job_data import (
    DISTILLATION_PROMPTS,
    RFT_PROMPTS,
    check_count,
    distillation_prompts,
    pretraining_texts,
    reward_prompts,
)
from iterft.local.bedrock.requests import JobDataError, invalid
from iterft.local.bedrock.runtime import reply
from iterft.local.bedrock.strategies import LogSource, teacher_model_id
from iterft.local.iam import check_as_current
from iterft.local.standin_model import (
    DataFormatError,
    Pair,
    StandInModel,
    StepLoss,
    TrainingReport,
    first_tokens,
    pairs_from_jsonl,
)
from iterft.local.standin_reinforcement import Grader, RewardPrompt, RewardStep, reinforce

if TYPE_CHECKING:
    from iterft.local.bedrock.customization import CustomizationJob

DEFAULT_BATCH_SIZE = 8
"""Batch size of the stand-in's training for families without a batchSize hyperparameter (Nova)."""

T = TypeVar("T")


class Training(StandInCore):
    """A job's training, by customization type (see the module docstring)."""

    def _customize(self, job: CustomizationJob, start: StandInModel) -> tuple[StandInModel, TrainingReport]:
        """The job's model trained from `start` (its base's knowledge), and what training measured."""
        kind = job.strategy.kind
        if kind is CustomizationType.REINFORCEMENT_FINE_TUNING:
            return self._reinforce(job, start)
        validators = (job.request.get("validationDataConfig") or {}).get("validators") or []
        validation_uri = validators[0]["s3Uri"] if validators else None
        epochs, batch_size = _epochs(job), _batch_size(job)
        if kind is CustomizationType.CONTINUED_PRE_TRAINING:
            texts = self._job_records(job.request["trainingDataConfig"]["s3Uri"], pretraining_texts)
            held_out = self._job_records(validation_uri, pretraining_texts) if validation_uri else None
            return start.pretrain(texts, epochs=epochs, batch_size=batch_size, validation_texts=held_out)
        assert job.family is not None  # every type but reinforcement fine-tuning has one
        data_format = job.family.data_format

        def family_pairs(text: str) -> list[Pair]:
            return pairs_from_jsonl(text, data_format)

        if kind is CustomizationType.DISTILLATION:
            pairs = self._distilled_pairs(job)
        else:
            pairs = self._job_records(job.request["trainingDataConfig"]["s3Uri"], family_pairs)
        validation = self._job_records(validation_uri, family_pairs) if validation_uri else None
        return start.train(pairs, epochs=epochs, batch_size=batch_size, validation_pairs=validation)

    # Distillation -----------------------------------------------------------------------------

    def _distilled_pairs(self, job: CustomizationJob) -> list[Pair]:
        """(prompt, teacher's answer) pairs: the teacher answers each prompt, or, with usePromptResponse,
        the teacher's own logged answers are used."""
        strategy = job.strategy
        assert strategy.teacher is not None
        if strategy.logs is not None:
            logged = self._logged(strategy.logs)
            if strategy.logs.use_prompt_response:
                pairs = [
                    Pair(call.question, call.answer)
                    for call in logged
                    if call.answer and teacher_model_id(call.model_id) == strategy.teacher
                ]
                check_count(
                    len(pairs),
                    DISTILLATION_PROMPTS,
                    f"prompt-response pairs from the teacher model {strategy.teacher}",
                )
                return pairs
            prompts = [call.question for call in logged]
        else:
            prompts = self._job_records(job.request["trainingDataConfig"]["s3Uri"], distillation_prompts)
        check_count(len(prompts), DISTILLATION_PROMPTS, "prompts")
        check_as_current("bedrock-runtime", "InvokeModel", {"modelId": strategy.teacher}, self.region_name)
        teacher = self._foundation_knowledge(strategy.teacher)
        limit = strategy.max_response_tokens
        answers = [reply(teacher, prompt) for prompt in prompts]
        return [
            Pair(prompt, first_tokens(answer, limit) if limit else answer)
            for prompt, answer in zip(prompts, answers, strict=True)
        ]

    def _logged(self, logs: LogSource) -> list[LoggedInvocation]:
        """The logged invocations under the source's prefix that its request metadata filters select."""
        calls = invocations(self._listed(logs.s3_uri), self._read)
        return [call for call in calls if selected(logs.filters, call.metadata)]

    # Reinforcement fine-tuning ----------------------------------------------------------------

    def _reinforce(self, job: CustomizationJob, start: StandInModel) -> tuple[StandInModel, TrainingReport]:
        strategy = job.strategy
        if strategy.logs is not None:
            prompts = [
                RewardPrompt([{"role": "user", "content": call.question}], call.question, {})
                for call in self._logged(strategy.logs)
            ]
        else:
            prompts = self._job_records(job.request["trainingDataConfig"]["s3Uri"], reward_prompts)
        check_count(len(prompts), RFT_PROMPTS, "prompts")
        settings = strategy.rft
        assert strategy.grader_arn is not None
        model, report, _ = reinforce(
            start,
            prompts,
            self._grader(strategy.grader_arn),
            epochs=int(settings["epochCount"]),
            batch_size=int(settings["batchSize"]),
            samples_per_prompt=int(settings["trainingSamplePerPrompt"]),
            max_tokens=int(settings["inferenceMaxTokens"]) if "inferenceMaxTokens" in settings else None,
        )
        return model, report

    def _grader_function(self, arn: str) -> LambdaFunction:
        """The grader's function, looked up in the embedded Lambda service; refused when it does not exist."""
        region, account = arn.split(":")[3], arn.split(":")[4]
        try:
            return get_lambda_backend(account, region).get_function(arn)
        except UnknownFunctionException:
            raise invalid(f"The grader Lambda function {arn} does not exist.") from None

    def _grader(self, arn: str) -> Grader:
        """Rewards by sample id, from the grader function invoked in-process as Lambda runs it."""

        def grade(samples: list[dict[str, Any]]) -> Mapping[str, float]:
            check_as_current("lambda", "Invoke", {"FunctionName": arn}, self.region_name)
            try:
                function = self._grader_function(arn)
            except Exception as error:
                raise JobDataError(str(error)) from None
            from iterft.local.adapters import invoke_function  # adapters imports moto's Step Functions parser

            payload, errored = invoke_function(function, samples)
            if errored:
                failure = json.loads(payload)
                raise JobDataError(
                    f"The grader Lambda function {arn} failed: {failure.get('errorType')}: "
                    f"{failure.get('errorMessage')}"
                )
            return _rewards(arn, json.loads(payload), [str(sample["id"]) for sample in samples])

        return grade

    # Reading a job's files --------------------------------------------------------------------

    def _job_records(self, uri: str, parse: Callable[[str], list[T]]) -> list[T]:
        """A job's file, parsed; the job fails (Bedrock's "Data validation failed") when it does not fit."""
        data = self._read(uri)
        if data is None:
            raise JobDataError(f"Unable to read {uri}: the object no longer exists.")
        try:
            return parse(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise JobDataError(f"Data validation failed for {uri}: the file is not UTF-8 text.") from None
        except DataFormatError as error:
            raise JobDataError(f"Data validation failed for {uri}: {error}.") from None


def _rewards(arn: str, answer: Any, ids: Sequence[str]) -> dict[str, float]:
    """The grader's answer (nova-implementing-reward-functions: a list of `{id, aggregate_reward_score,
    metrics_list?}`, one a sample) as rewards by id; anything else fails the job."""
    shape = "a list of {id, aggregate_reward_score, metrics_list} objects, one for each sample"
    if not isinstance(answer, list):
        raise JobDataError(f"The grader Lambda function {arn} returned {type(answer).__name__}, not {shape}.")
    rewards: dict[str, float] = {}
    for item in answer:
        score = item.get("aggregate_reward_score") if isinstance(item, Mapping) else None
        if isinstance(score, bool) or not isinstance(score, int | float) or "id" not in item:
            raise JobDataError(
                f"The grader Lambda function {arn} returned {json.dumps(item)[:200]}, not {shape}."
            )
        rewards[str(item["id"])] = float(score)
    missing = [sample_id for sample_id in ids if sample_id not in rewards]
    if missing:
        raise JobDataError(
            f"The grader Lambda function {arn} returned no reward for samples {', '.join(missing[:5])}."
        )
    return rewards


def _epochs(job: CustomizationJob) -> int:
    assert job.family is not None
    default = job.family.hyperparameters["epochCount"].default
    return int(float(job.request["hyperParameters"].get("epochCount", default)))


def _batch_size(job: CustomizationJob) -> int:
    assert job.family is not None
    allowed = job.family.hyperparameters.get("batchSize")
    if allowed is None:
        return DEFAULT_BATCH_SIZE
    return int(float(job.request["hyperParameters"].get("batchSize", allowed.default)))


def metrics_csv(loss_column: str, rows: Iterable[StepLoss]) -> str:
    """Bedrock's metric CSV; reinforcement steps add the step's mean reward as a last column."""
    rows = list(rows)
    rewards = bool(rows) and all(isinstance(row, RewardStep) for row in rows)
    lines = [f"step_number,epoch_number,{loss_column},perplexity" + (",mean_reward" if rewards else "")]
    for row in rows:
        line = f"{row.step},{row.epoch},{row.loss:.6f},{row.perplexity:.6f}"
        lines.append(line + (f",{row.mean_reward:.6f}" if isinstance(row, RewardStep) else ""))
    return "\n".join(lines) + "\n"
