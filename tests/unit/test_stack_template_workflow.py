"""The synthesized template's workflow: the state machine's flow, results, retries and failure paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_cdk.assertions import Template
from iterft_runtime import naming
from stack_template_support import (
    CAUGHT,
    LAMBDA_STEPS,
    RESULT_PATHS,
    _allows,
    _definition,
    _flow,
    _function_role,
    _has_managed_jobs,
    _has_strategy_tasks,
    _listify,
    _logical_id,
    _resources,
    _role_statements,
)

from stacks.app_builder import SynthResult

pytest_plugins = ("stack_template_fixtures",)


# The workflow ---------------------------------------------------------------------------------


def test_state_machine_is_standard_traced_and_logs_everything(synth: SynthResult, template: Template) -> None:
    (machine,) = [r["Properties"] for r in _resources(synth, "AWS::StepFunctions::StateMachine").values()]
    assert machine.get("StateMachineType", "STANDARD") == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    log_group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    retention = synth.template["Resources"][log_group]["Properties"]["RetentionInDays"]
    assert retention == synth.config.retention.log_days


def _happy_choice(name: str, state: dict) -> str:
    """Valid data, capacity ready, promote, round not failed."""
    if name.endswith("ready?"):
        return next(c["Next"] for c in state["Choices"] if c["Variable"].endswith("_check.ready"))
    if name == "Promote?":
        return next(c["Next"] for c in state["Choices"] if c.get("BooleanEquals") is True)
    if name in ("Managed evaluation?", "Managed evaluation started?"):
        return state["Choices"][0]["Next"]
    assert name in (
        "Rollback?",
        "Dataset valid?",
        "Training strategy?",
        "Distributed evaluation?",
        "Round failed?",
    ), name
    return state["Default"]


def test_happy_path_visits_the_states_of_the_architecture_in_order(synth: SynthResult) -> None:
    definition = _definition(synth)
    states = definition["States"]
    path, name = [], definition["StartAt"]
    while True:
        path.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            name = _happy_choice(name, state)
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            break
        else:
            name = state["Next"]
    assert path == _flow(synth)
    assert states["Round complete"]["Type"] == "Succeed"


def test_side_paths_join_the_flow_where_the_architecture_says(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    (rollback,) = states["Rollback?"]["Choices"]
    assert rollback == {"Variable": "$.kind", "StringEquals": "rollback", "Next": "Begin rollback"}
    assert states["Begin rollback"]["ResultPath"] == "$"
    assert states["Begin rollback"]["Next"] == "Swap serving model"
    (invalid,) = states["Dataset valid?"]["Choices"]
    assert invalid == {"Variable": "$.validation.valid", "BooleanEquals": False, "Next": "Mark invalid"}
    assert states["Mark invalid"]["Parameters"] == {
        "decision.$": "$.validation.decision",
        "reason.$": "$.validation.reason",
    }
    assert states["Mark invalid"]["Next"] == "Apply retention"
    for label, then in (
        (
            "evaluation capacity",
            "Managed evaluation?" if _has_managed_jobs(synth) else "Distributed evaluation?",
        ),
        ("serving capacity", "Promote candidate"),
    ):
        title = label[0].upper() + label[1:]
        ready = states[f"{title} ready?"]
        choices = {c["Variable"]: c for c in ready["Choices"]}
        assert choices["$.capacity_check.ready"]["Next"] == then
        assert ready["Default"] == f"Count {label} poll"
        assert states[f"Count {label} poll"]["Parameters"] == {"polls.$": "States.MathAdd($.polls.polls, 1)"}
        assert states[f"Count {label} poll"]["Next"] == f"Wait for {label}"
        assert states[f"Wait for {label}"] == {"Type": "Wait", "Seconds": 30, "Next": f"Check {label}"}
        failed = choices["$.capacity_check.failed"]["Next"]
        assert states[failed]["ResultPath"] == "$.error"
        assert states[failed]["Next"] == "Clean up failed round"
        # Capacity that never serves ends the polling after an hour, on the failure path.
        timed_out = choices["$.polls.polls"]
        assert timed_out["NumericGreaterThanEquals"] * states[f"Wait for {label}"]["Seconds"] == 3600
        assert states[timed_out["Next"]]["Parameters"]["Error"] == "CapacityTimeout"
        assert states[timed_out["Next"]]["Next"] == "Clean up failed round"
        assert states[f"Check {label}"]["Parameters"] == {
            "capacities.$": "$.capacity.evaluation" if label.startswith("evaluation") else "$.swap.targets"
        }
    assert states["Prepare promotion"]["Parameters"]["model_arn.$"] == "$.training.output_model_arn"
    assert states["Approved?"]["Choices"][0]["Next"] == "Prepare promotion"
    assert states["Promote?"]["Default"] == "Discard candidate"
    assert states["Discard candidate"]["Next"] == "Record outcome"
    assert states["Record outcome"]["Parameters"] == {
        "decision.$": "$.decision.decision",
        "reason.$": "$.decision.reason",
    }
    assert states["Clean up failed round"]["Next"] == "Apply retention"
    # Retention is best effort: whatever happens, the round reaches Finish (which releases the lock).
    assert states["Apply retention"]["Next"] == "Finish iteration"
    assert states["Apply retention"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.retention", "Next": "Finish iteration"}
    ]
    (round_failed,) = states["Round failed?"]["Choices"]
    assert round_failed == {
        "Variable": "$.outcome.decision",
        "StringEquals": "failed",
        "Next": "Round failed",
    }
    assert states["Round failed"]["Type"] == "Fail"


def test_each_state_writes_its_result_where_the_architecture_says(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    for name, result_path in RESULT_PATHS.items():
        assert states[name]["ResultPath"] == result_path, name


def test_lambda_steps_invoke_their_function(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    functions = {
        step: logical_id
        for logical_id, r in _resources(synth, "AWS::Lambda::Function").items()
        for step in naming.STEPS
        if r["Properties"].get("Handler") == f"{naming.HANDLER_MODULE.format(step=step)}.handler"
    }
    for name, step in LAMBDA_STEPS.items():
        assert states[name]["Resource"] == f"<{functions[step]}.Arn>", name


def _all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, those of Map item processors and Parallel branches included."""
    for name, state in states.items():
        yield name, state
        for processor in [state.get("ItemProcessor"), *state.get("Branches", [])]:
            if processor:
                yield from _all_states(processor["States"])


def test_every_lambda_step_retries_lambda_service_errors_and_throttling_with_jitter(
    synth: SynthResult,
) -> None:
    """AWS's recommended retry of Lambda's service exceptions (bp-lambda-serviceexception), and its
    `Lambda.TooManyRequestsException`, each with full jitter, first in every Lambda step's Retry."""
    functions = {f"<{logical_id}.Arn>" for logical_id in _resources(synth, "AWS::Lambda::Function")}
    lambda_states = {
        name: state
        for name, state in _all_states(_definition(synth)["States"])
        if state.get("Type") == "Task" and state.get("Resource") in functions
    }
    assert set(LAMBDA_STEPS) | {"Score shard", "Score shard (distributed)"} <= set(lambda_states)
    for name, state in lambda_states.items():
        service, throttling = state["Retry"][:2]
        assert service == {
            "ErrorEquals": [
                "Lambda.ClientExecutionTimeoutException",
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
            ],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
            "JitterStrategy": "FULL",
        }, name
        assert throttling == {
            "ErrorEquals": ["Lambda.TooManyRequestsException"],
            "IntervalSeconds": 2,
            "MaxAttempts": 10,
            "BackoffRate": 2,
            "MaxDelaySeconds": 120,
            "JitterStrategy": "FULL",
        }, name
        assert all(retry["ErrorEquals"] != ["States.ALL"] for retry in state["Retry"][:-1]), name


def test_every_step_from_validate_to_promote_or_discard_takes_the_failure_path(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    for name in CAUGHT:
        assert states[name]["Catch"][-1:] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"}
        ], name
        assert len(states[name]["Catch"]) == (2 if name == "Fine-tune candidate" else 1), name
    assert "Catch" not in states["Finish iteration"]


def test_score_shards_is_a_bounded_map_retrying_throttled_shards_with_backoff(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    score_shards = states["Score shards"]
    assert score_shards["Type"] == "Map"
    assert score_shards["ItemsPath"] == "$.evaluation_plan.shards"
    assert score_shards["MaxConcurrency"] == synth.config.evaluation.concurrency
    assert score_shards["ItemSelector"]["shard.$"] == "$$.Map.Item.Value"
    assert score_shards["ItemSelector"]["candidate_model.$"] == "$.capacity.candidate_model"
    assert score_shards["ItemSelector"]["champion_model.$"] == "$.capacity.champion_model"
    processor = score_shards["ItemProcessor"]
    shard = processor["States"][processor["StartAt"]]
    assert shard["End"] is True and shard["ResultPath"] is None
    assert shard["OutputPath"] == "$.shard.index"  # the Map's gathered outputs stay small
    (throttled,) = [retry for retry in shard["Retry"] if retry["ErrorEquals"] == ["BedrockThrottled"]]
    assert throttled["BackoffRate"] == 2 and throttled["MaxAttempts"] >= 3
    assert throttled["JitterStrategy"] == "FULL"


def test_a_managed_evaluation_job_runs_beside_the_shards_and_is_polled_to_the_failure_path(
    synth: SynthResult,
) -> None:
    states = _definition(synth)["States"]
    if not _has_managed_jobs(synth):
        assert [name for name in states if "anaged evaluation" in name] == []
        return
    managed_job = "$.lineage.evaluation.managed_job"
    has_job = [{"Variable": managed_job, "IsPresent": True}, {"Variable": managed_job, "IsNull": False}]
    evaluator = f"{managed_job}.evaluator_model"
    has_evaluator = {
        "And": [{"Variable": evaluator, "IsPresent": True}, {"Variable": evaluator, "IsNull": False}]
    }
    choice = states["Managed evaluation?"]
    # A programmatic job (no evaluator model) starts before the shards: it invokes the models itself.
    assert choice["Choices"] == [
        {"And": [*has_job, {"Not": has_evaluator}], "Next": "Start managed evaluation"}
    ]
    assert choice["Default"] == states["Start managed evaluation"]["Next"] == "Distributed evaluation?"
    start = states["Start managed evaluation"]
    assert start["ResultPath"] == "$.managed_evaluation"
    (throttled,) = [retry for retry in start["Retry"] if retry["ErrorEquals"] == ["BedrockThrottled"]]
    assert throttled["BackoffRate"] == 2 and throttled["JitterStrategy"] == "FULL"
    # After the shards: wait for the job only if one was started.
    # A judged job (an evaluator model) starts after them: it grades the answers they collected.
    started = states["Managed evaluation started?"]
    assert started["Choices"] == [
        {"Variable": "$.managed_evaluation", "IsPresent": True, "Next": "Start managed evaluation polls"},
        {"And": [*has_job, has_evaluator], "Next": "Start judged evaluation"},
    ]
    assert started["Default"] == "Aggregate evaluation"
    judged = states["Start judged evaluation"]
    assert judged["ResultPath"] == "$.managed_evaluation"
    assert judged["Next"] == "Start managed evaluation polls"
    assert {key: judged[key] for key in ("Resource", "Arguments", "Parameters") if key in judged} == {
        key: start[key] for key in ("Resource", "Arguments", "Parameters") if key in start
    }
    check = states["Check managed evaluation"]
    assert check["Parameters"] == {"job_arns.$": "$.managed_evaluation.job_arns"}
    assert check["ResultPath"] == "$.evaluation_job_check"
    (throttled,) = [retry for retry in check["Retry"] if retry["ErrorEquals"] == ["BedrockThrottled"]]
    assert throttled["BackoffRate"] == 2 and throttled["JitterStrategy"] == "FULL"
    ready = {c["Variable"]: c for c in states["Managed evaluation ready?"]["Choices"]}
    assert ready["$.evaluation_job_check.ready"]["Next"] == "Aggregate evaluation"
    failed = states[ready["$.evaluation_job_check.failed"]["Next"]]
    assert failed["Parameters"]["Error"] == "EvaluationJobFailed"
    assert failed["Next"] == "Clean up failed round"
    # A job still running after six hours is given up on (Clean up stops it).
    timed_out = ready["$.polls.polls"]
    assert (
        timed_out["NumericGreaterThanEquals"] * states["Wait for managed evaluation"]["Seconds"] == 6 * 3600
    )
    assert states[timed_out["Next"]]["Parameters"]["Error"] == "EvaluationJobTimeout"
    assert states[timed_out["Next"]]["Next"] == "Clean up failed round"
    for name in ("Start managed evaluation", "Start judged evaluation", "Check managed evaluation"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"}
        ], name


def test_large_plans_are_scored_by_a_distributed_map_reading_the_shard_list(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    choice = states["Distributed evaluation?"]
    assert choice["Choices"] == [
        {
            "Variable": "$.evaluation_plan.shard_count",
            "NumericGreaterThan": synth.config.evaluation.distributed_above_shards,
            "Next": "Score shards (distributed)",
        }
    ]
    assert choice["Default"] == "Score shards"
    inline, distributed = states["Score shards"], states["Score shards (distributed)"]
    assert distributed["Type"] == "Map" and "ItemsPath" not in distributed
    bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    assert distributed["ItemReader"] == {
        "Resource": "arn:<AWS::Partition>:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": f"<{bucket}>", "Key.$": "$.evaluation_plan.shard_list_key"},
    }
    # The same shard input, concurrency, step, retry and failure path as the inline Map.
    assert distributed["ItemSelector"] == inline["ItemSelector"]
    assert distributed["MaxConcurrency"] == inline["MaxConcurrency"] == synth.config.evaluation.concurrency
    assert distributed["ResultPath"] is None
    scored = "Managed evaluation started?" if _has_managed_jobs(synth) else "Aggregate evaluation"
    assert distributed["Next"] == inline["Next"] == scored
    assert distributed["Catch"] == inline["Catch"]
    processor = distributed["ItemProcessor"]
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    inline_processor = inline["ItemProcessor"]
    assert processor["StartAt"] == "Score shard (distributed)"
    assert (
        processor["States"][processor["StartAt"]] == inline_processor["States"][inline_processor["StartAt"]]
    )


def test_the_distributed_map_may_read_only_shard_lists_and_run_only_its_own_children(
    synth: SynthResult,
) -> None:
    role = _logical_id(synth, "AWS::IAM::Role", "WorkflowStateMachineRole")
    machine = _logical_id(synth, "AWS::StepFunctions::StateMachine", "WorkflowStateMachine")
    statements = _role_statements(synth, role)
    bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    reads = [s for s in statements if "s3:GetObject" in _listify(s["Action"])]
    assert [_listify(s["Resource"]) for s in reads] == [[f"<{bucket}.Arn>/evaluations/*/shard-list.json"]]
    (start,) = _allows(statements, "states:StartExecution", f"<{machine}>")
    assert _listify(start["Resource"]) == [f"<{machine}>"]
    children = [s for s in statements if "states:DescribeExecution" in _listify(s["Action"])]
    assert children and all(":execution:" in str(s["Resource"]) for s in children)
    decrypt = [s for s in statements if "kms:Decrypt" in _listify(s["Action"]) and "s3." in str(s)]
    assert decrypt, "the shard list is SSE-KMS encrypted: reading it decrypts through S3"
    plan_role = _function_role(synth, "plan_evaluation")
    assert _allows(_role_statements(synth, plan_role), "s3:PutObject", f"<{bucket}.Arn>/evaluations/*")


def test_finish_retries_any_error_because_it_holds_the_lineage_lock(synth: SynthResult) -> None:
    retries = _definition(synth)["States"]["Finish iteration"]["Retry"]
    assert {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 5,
        "BackoffRate": 2,
        "MaxAttempts": 4,
    } in retries


def test_fine_tune_is_the_sync_customization_job_with_the_round_parameters(synth: SynthResult) -> None:
    state = _definition(synth)["States"]["Fine-tune candidate"]
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:<AWS::Partition>:states:::bedrock:createModelCustomizationJob.sync"
    role = _logical_id(synth, "AWS::IAM::Role", "BedrockCustomizationRole")
    key = _logical_id(synth, "AWS::KMS::Key", "StorageKey")
    assert state["Parameters"] == {
        "BaseModelIdentifier.$": "$.round.base_model",
        "CustomModelName.$": "$.round.custom_model_name",
        "JobName.$": "$.round.job_name",
        "CustomizationType.$": "$.round.customization_type",
        "ClientRequestToken.$": "$.round.job_name",
        "RoleArn": f"<{role}.Arn>",
        "HyperParameters.$": "$.round.hyperparameters",
        "TrainingDataConfig": {"S3Uri.$": "$.validation.training_data_uri"},
        "OutputDataConfig": {"S3Uri.$": "$.round.output_uri"},
        "CustomModelKmsKeyId": f"<{key}.Arn>",
    }


def test_a_distillation_round_has_its_own_job_task_with_the_strategy_configuration(
    synth: SynthResult,
) -> None:
    """Where a lineage may distil, `Training strategy?` sends its rounds to `Distill candidate`: the same
    job with customizationType DISTILLATION and the configuration and training data Begin computed; it
    retries, finds a conflicting job and fails like Fine-tune. Other rounds go to Fine-tune."""
    states = _definition(synth)["States"]
    if not _has_strategy_tasks(synth):
        assert "Training strategy?" not in states and "Distill candidate" not in states
        return
    choose = states["Training strategy?"]
    assert choose["Default"] == "Fine-tune candidate"
    assert {
        "Variable": "$.round.customization_type",
        "StringEquals": "DISTILLATION",
        "Next": "Distill candidate",
    } in choose["Choices"]
    distill, fine_tune = states["Distill candidate"], states["Fine-tune candidate"]
    assert distill["Resource"] == fine_tune["Resource"]
    shared = {
        k: v
        for k, v in fine_tune["Parameters"].items()
        if k not in ("CustomizationType.$", "HyperParameters.$", "TrainingDataConfig")
    }
    assert distill["Parameters"] == {
        **shared,
        "CustomizationType": "DISTILLATION",
        "CustomizationConfig.$": "$.round.customization_config",
        "TrainingDataConfig.$": "$.round.training_data_config",
    }
    assert distill["Retry"] == fine_tune["Retry"]
    assert distill["Catch"] == fine_tune["Catch"]
    assert distill["Next"] == fine_tune["Next"] == "Collect training metrics"


def test_fine_tune_retries_throttling_and_server_errors_with_jittered_backoff(synth: SynthResult) -> None:
    """Rate and quota refusals, and Bedrock's 5xx on the create or a status poll, are retried for
    minutes with full jitter; errors that cannot heal (validation, access, not found, a real name
    conflict) are not."""
    throttling, server = _definition(synth)["States"]["Fine-tune candidate"]["Retry"]
    assert throttling == {
        "ErrorEquals": [
            "Bedrock.ThrottlingException",
            "Bedrock.ServiceQuotaExceededException",
            "Bedrock.TooManyRequestsException",
        ],
        "IntervalSeconds": 60,
        "BackoffRate": 2,
        "MaxAttempts": 6,
        "JitterStrategy": "FULL",
    }
    assert server == {
        "ErrorEquals": ["Bedrock.InternalServerException", "Bedrock.ServiceUnavailableException"],
        "IntervalSeconds": 30,
        "BackoffRate": 2,
        "MaxAttempts": 6,
        "MaxDelaySeconds": 600,
        "JitterStrategy": "FULL",
    }


def test_a_fine_tune_conflict_finds_the_rounds_job_by_name_and_waits_for_it(synth: SynthResult) -> None:
    """ConflictException (the job exists; its token not recognised) is caught before the catch-all: the
    job is read by the round's deterministic name and polled (the round's one poll loop, bounded) until it
    ends; Completed rejoins the flow at Collect training metrics, Failed or Stopped, a job still training
    after a week of checks, or a read failing past its retries goes to Clean up."""
    states = _definition(synth)["States"]
    conflict = states["Fine-tune candidate"]["Catch"][0]
    assert conflict == {
        "ErrorEquals": ["Bedrock.ConflictException"],
        "ResultPath": "$.fine_tune_conflict",
        "Next": "Start existing job polls",
    }
    assert states["Start existing job polls"]["Next"] == "Find existing job"
    find = states["Find existing job"]
    assert find["Resource"] == "arn:<AWS::Partition>:states:::aws-sdk:bedrock:getModelCustomizationJob"
    assert find["Parameters"] == {"JobIdentifier.$": "$.round.job_name"}
    assert find["ResultPath"] == "$.job"
    assert [r["ErrorEquals"][0] for r in find["Retry"]] == [
        "Bedrock.ThrottlingException",
        "Bedrock.InternalServerException",
    ]
    assert find["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"}
    ]
    done = states[find["Next"]]
    completed, not_running, out_of_polls = done["Choices"]
    assert completed == {
        "Variable": "$.job.Status",
        "StringEquals": "Completed",
        "Next": "Collect training metrics",
    }
    running = tuple(c["StringEquals"] for c in not_running["Not"]["Or"])
    assert running == ("InProgress", "Stopping")
    failed = states[not_running["Next"]]
    assert failed["Parameters"] == {"Error": "States.TaskFailed", "Cause.$": "States.JsonToString($.job)"}
    assert failed["ResultPath"] == "$.error" and failed["Next"] == "Clean up failed round"
    assert states[done["Default"]]["Next"] == "Wait for existing job"
    wait = states["Wait for existing job"]
    assert wait["Next"] == "Find existing job"
    # Still training after a week of checks: the round fails (its clean-up stops the job), well before
    # the execution's 25,000-event history limit would end it with the lineage locked.
    assert out_of_polls["Variable"] == "$.polls.polls"
    assert out_of_polls["NumericGreaterThanEquals"] * wait["Seconds"] == 7 * 24 * 3600
    timed_out = states[out_of_polls["Next"]]
    assert timed_out["Parameters"]["Error"] == "FineTuneTimeout"
    assert timed_out["Next"] == "Clean up failed round"


def test_idempotent_lambda_steps_retry_transient_aws_errors_for_minutes(synth: SynthResult) -> None:
    """Promote, Plan evaluation and every other step safe to run again retry a handler's transient AWS
    error (5xx, throttling, a broken connection: the exception's class name) with jittered backoff of
    minutes; none retries validation, access or not-found errors, or a bare ClientError."""
    states = dict(_all_states(_definition(synth)["States"]))
    for name in ("Promote candidate", "Plan evaluation", "Collect training metrics", "Decide"):
        (transient,) = [r for r in states[name]["Retry"] if "InternalServerException" in r["ErrorEquals"]]
        assert {
            "InternalServerError",
            "ServiceUnavailableException",
            "EndpointConnectionError",
            "TransientServiceError",  # S3's 5xx and SlowDown, named by the data-access layer
        } <= set(transient["ErrorEquals"]), name
        assert (transient["IntervalSeconds"], transient["BackoffRate"], transient["MaxAttempts"]) == (
            15,
            2,
            6,
        ), name
        assert transient["MaxDelaySeconds"] == 300 and transient["JitterStrategy"] == "FULL", name
    never = {"ValidationException", "AccessDeniedException", "ResourceNotFoundException", "ClientError"}
    for name, state in states.items():
        for retry in state.get("Retry", []):
            assert not never & set(retry["ErrorEquals"]), name
    # Clean up's actions are best effort, but its first registry reads raise: a transient error there
    # is retried, else the execution would end without Finish and leave the lineage locked.
    clean_up = states["Clean up failed round"]
    assert any("ThrottlingException" in r["ErrorEquals"] for r in clean_up["Retry"])
    # Apply retention's failure is caught into Finish: only Lambda's own errors are retried.
    assert all(r["ErrorEquals"][0].startswith("Lambda.") for r in states["Apply retention"]["Retry"])


def test_last_step_asks_the_trigger_to_dispatch_the_lineage(synth: SynthResult) -> None:
    state = _definition(synth)["States"]["Start next queued upload"]
    queue = _logical_id(synth, "AWS::SQS::Queue", "UploadQueue2")
    assert state["Resource"] == "arn:<AWS::Partition>:states:::sqs:sendMessage"
    assert state["Parameters"] == {
        "QueueUrl": f"<{queue}>",
        "MessageBody": {"kind": "dispatch", "lineage.$": "$.lineage.name"},
    }
