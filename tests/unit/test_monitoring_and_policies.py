"""The synthesized template's dashboard (executions, dead letters, each lineage's round metrics), its
alarms (dead letters, executions ending outside their failure path) and the key and queue policies
that let only the upload rule, and CloudWatch's alarms, use the queue and the key."""

from __future__ import annotations

import json

import pytest
from iterft_runtime import naming
from template_support import readable, synthesized

from stacks.app_builder import SynthResult

EVENTS = {"Service": "events.amazonaws.com"}
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}
ALARM_SETTINGS = {
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "Threshold": 1,
    "EvaluationPeriods": 1,
    "Period": 300,
    "TreatMissingData": "notBreaching",
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesized("dev", tmp_path_factory)


def _resources(synth: SynthResult, kind: str) -> dict[str, dict]:
    return {
        logical_id: readable(resource["Properties"])
        for logical_id, resource in synth.template["Resources"].items()
        if resource["Type"] == kind
    }


def _one(synth: SynthResult, kind: str) -> tuple[str, dict]:
    (found,) = _resources(synth, kind).items()
    return found


def _key_statements(synth: SynthResult, principal: dict[str, str]) -> list[dict]:
    _, key = _one(synth, "AWS::KMS::Key")
    return [s for s in key["KeyPolicy"]["Statement"] if s.get("Principal") == principal]


def _upload_rule_arn(synth: SynthResult) -> str:
    _, rule = _one(synth, "AWS::Events::Rule")
    region = synth.config.region
    return f"arn:<AWS::Partition>:events:{region}:<AWS::AccountId>:rule/{rule['Name']}"


def _queues(synth: SynthResult) -> tuple[str, str]:
    """(upload queue, dead-letter queue) logical ids."""
    queues = _resources(synth, "AWS::SQS::Queue")
    (main,) = [logical_id for logical_id, queue in queues.items() if "RedrivePolicy" in queue]
    (dead_letters,) = [logical_id for logical_id, queue in queues.items() if "RedrivePolicy" not in queue]
    return main, dead_letters


# Key and queue policies -----------------------------------------------------------------------


def test_the_upload_rule_is_named_after_the_stack_and_targets_the_upload_queue(synth: SynthResult) -> None:
    _, rule = _one(synth, "AWS::Events::Rule")
    main, _ = _queues(synth)
    assert rule["Name"] == f"{synth.stack_name}-uploads"
    assert [target["Arn"] for target in rule["Targets"]] == [f"<{main}.Arn>"]


def test_eventbridge_may_use_the_key_only_to_encrypt_for_the_upload_rule(synth: SynthResult) -> None:
    (statement,) = _key_statements(synth, EVENTS)
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": _upload_rule_arn(synth)}}


def test_only_the_upload_rule_may_send_to_the_upload_queue(synth: SynthResult) -> None:
    main, dead_letters = _queues(synth)
    policies = _resources(synth, "AWS::SQS::QueuePolicy").values()
    events_statements = {
        queue: [s for s in policy["PolicyDocument"]["Statement"] if s.get("Principal") == EVENTS]
        for policy in policies
        for queue in policy["Queues"]
    }
    (statement,) = events_statements[f"<{main}>"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == f"<{main}.Arn>"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": _upload_rule_arn(synth)}}
    assert events_statements.get(f"<{dead_letters}>", []) == []


def test_cloudwatch_may_use_the_key_to_publish_alarms_for_this_account_only(synth: SynthResult) -> None:
    (statement,) = _key_statements(synth, CLOUDWATCH)
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"}}


def test_bedrock_may_encrypt_invocation_logs_it_delivers_for_this_account_and_region_only(
    synth: SynthResult,
) -> None:
    """Where the stack enables invocation logging into its data bucket (SSE-KMS with the stack key)."""
    assert synth.config.invocation_logs is not None and synth.config.invocation_logs.enable_if_absent
    (statement,) = _key_statements(synth, {"Service": "bedrock.amazonaws.com"})
    assert statement["Effect"] == "Allow" and statement["Action"] == "kms:GenerateDataKey"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
        "ArnLike": {
            "aws:SourceArn": f"arn:<AWS::Partition>:bedrock:{synth.config.region}:<AWS::AccountId>:*"
        },
    }


def test_no_other_service_principal_may_use_the_key(synth: SynthResult) -> None:
    _, key = _one(synth, "AWS::KMS::Key")
    services = [s["Principal"] for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert sorted(principal["Service"] for principal in services) == [
        "bedrock.amazonaws.com",  # invocation log delivery, above
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    ]


# Alarms ---------------------------------------------------------------------------------------


def test_the_topic_the_alarms_notify_is_encrypted_with_the_key_cloudwatch_may_use(synth: SynthResult) -> None:
    key_id, _ = _one(synth, "AWS::KMS::Key")
    topic_id, topic = _one(synth, "AWS::SNS::Topic")
    assert topic["KmsMasterKeyId"] == f"<{key_id}.Arn>"
    alarms = _resources(synth, "AWS::CloudWatch::Alarm").values()
    assert alarms
    for alarm in alarms:
        assert alarm["AlarmActions"] == [f"<{topic_id}>"]
        assert alarm["OKActions"] == [f"<{topic_id}>"]


def test_the_dead_letter_queue_alarms_on_one_visible_message(synth: SynthResult) -> None:
    _, dead_letters = _queues(synth)
    (alarm,) = [
        alarm
        for alarm in _resources(synth, "AWS::CloudWatch::Alarm").values()
        if alarm["Namespace"] == "AWS/SQS"
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": f"<{dead_letters}.QueueName>"}]
    assert alarm["Statistic"] == "Maximum"
    assert ALARM_SETTINGS.items() <= alarm.items()


def test_executions_failed_timed_out_or_aborted_alarm_on_one(synth: SynthResult) -> None:
    machine_id, _ = _one(synth, "AWS::StepFunctions::StateMachine")
    alarms = {
        alarm["MetricName"]: alarm
        for alarm in _resources(synth, "AWS::CloudWatch::Alarm").values()
        if alarm["Namespace"] == "AWS/States"
    }
    assert alarms.keys() == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": f"<{machine_id}>"}]
        assert alarm["Statistic"] == "Sum"
        assert ALARM_SETTINGS.items() <= alarm.items()


def test_the_stack_has_exactly_these_four_alarms(synth: SynthResult) -> None:
    assert len(_resources(synth, "AWS::CloudWatch::Alarm")) == 4


# Dashboard ------------------------------------------------------------------------------------


def _dashboard(synth: SynthResult) -> tuple[str, dict[str, list[dict]]]:
    """The dashboard's name and its widgets by title (the body is JSON with the references inlined)."""
    _, dashboard = _one(synth, "AWS::CloudWatch::Dashboard")
    widgets = json.loads(dashboard["DashboardBody"])["widgets"]
    return dashboard["DashboardName"], {widget["properties"].get("title"): widget for widget in widgets}


def _metrics(widget: dict) -> list[tuple[str, str, dict[str, str], dict]]:
    """(namespace, name, dimensions, options) per metric line of a graph widget."""
    lines = []
    for line in widget["properties"]["metrics"]:
        namespace, name, *rest = line
        options = rest.pop() if rest and isinstance(rest[-1], dict) else {}
        lines.append((namespace, name, dict(zip(rest[::2], rest[1::2], strict=True)), options))
    return lines


def test_the_dashboard_is_named_after_the_stack(synth: SynthResult) -> None:
    name, _ = _dashboard(synth)
    assert name == synth.stack_name


def test_the_dashboard_shows_executions_started_succeeded_and_failed(synth: SynthResult) -> None:
    machine_id, _ = _one(synth, "AWS::StepFunctions::StateMachine")
    _, widgets = _dashboard(synth)
    lines = _metrics(widgets["Executions"])
    assert [name for _, name, _, _ in lines] == [
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    ]
    for namespace, _, dimensions, options in lines:
        assert namespace == "AWS/States"
        assert dimensions == {"StateMachineArn": f"<{machine_id}>"}
        assert options["stat"] == "Sum"


def test_the_dashboard_shows_the_dead_letter_queue(synth: SynthResult) -> None:
    _, dead_letters = _queues(synth)
    _, widgets = _dashboard(synth)
    [(namespace, name, dimensions, _)] = _metrics(widgets["Dead-letter queue"])
    assert (namespace, name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dimensions == {"QueueName": f"<{dead_letters}.QueueName>"}


def test_the_dashboard_plots_each_lineages_round_metrics_as_finish_publishes_them(synth: SynthResult) -> None:
    _, widgets = _dashboard(synth)
    lineages = [lineage.name for lineage in synth.config.lineages]
    assert lineages
    for lineage in lineages:
        published = {"service": naming.POWERTOOLS_SERVICE, naming.METRIC_LINEAGE_DIMENSION: lineage}
        charts = {
            f"{lineage}: rounds by outcome": [
                "RoundsPromoted",
                "RoundsRejected",
                "RoundsFailed",
                "RoundsInvalidData",
                "RoundsRolledBack",
            ],
            f"{lineage}: training duration (s)": [naming.METRIC_TRAINING_DURATION],
            f"{lineage}: evaluation score (primary metric)": [
                naming.METRIC_CANDIDATE_SCORE,
                naming.METRIC_CHAMPION_SCORE,
            ],
        }
        for title, names in charts.items():
            lines = _metrics(widgets[title])
            assert [name for _, name, _, _ in lines] == names
            for namespace, _, dimensions, _ in lines:
                assert namespace == naming.METRICS_NAMESPACE
                assert dimensions == published
