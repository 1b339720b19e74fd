"""How the stand-in plugs into moto (`iterft.local.bedrock.routing`): its routes, reset with moto, and
over a moto server's HTTP.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import moto.bedrock.urls as bedrock_urls
import moto.bedrockruntime.urls as bedrockruntime_urls
import pytest
from bedrock_support import (
    FOUNDATION,
    REGION,
    ROUND_1,
    ROUND_2,
    Lineage,
    answer,
    ask,
    error_code,
    evaluation,
    evaluation_request,
    finished,
    output_lines,
    prompt_dataset,
    scores_of,
)
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.bedrock.responses import BedrockResponse
from moto.bedrockruntime.responses import BedrockRuntimeResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from iterft.local.bedrock import BedrockStandIn, install_bedrock_standin, routing, standin_backend
from iterft.local.bedrock.routing import BedrockRuntimeStandInResponse, BedrockStandInResponse

# The patch points -----------------------------------------------------------------------------


def test_install_reroutes_every_bedrock_route_and_is_idempotent() -> None:
    install_bedrock_standin()
    install_bedrock_standin()
    handlers = set(bedrock_urls.url_paths.values())
    assert BedrockResponse.dispatch not in handlers
    assert bedrock_urls.url_paths["{0}/.*$"] == BedrockStandInResponse.dispatch
    assert set(bedrockruntime_urls.url_paths.values()) == {BedrockRuntimeStandInResponse.dispatch}


def test_uninstall_gives_moto_its_own_bedrock_back(credentials: None) -> None:
    install_bedrock_standin()
    try:
        assert routing.uninstall_bedrock_standin() is True
        assert BedrockStandInResponse.dispatch not in set(bedrock_urls.url_paths.values())
        assert set(bedrockruntime_urls.url_paths.values()) == {BedrockRuntimeResponse.dispatch}
        assert routing.uninstall_bedrock_standin() is False
        with mock_aws():  # moto's own Bedrock: a job is created without reading its training data
            lineage = Lineage()
            lineage.create("moto-own", "s3://missing-bucket/train.jsonl")
            assert lineage.job("iterft-moto-own")["status"] == "InProgress"  # moto's Get takes names only
    finally:
        install_bedrock_standin()


def test_install_fails_loudly_when_moto_moved_its_routes() -> None:
    with pytest.raises(RuntimeError, match="cannot be installed"):
        routing._reroute({"{0}/.*$": object()}, BedrockResponse.dispatch, BedrockStandInResponse.dispatch)


def test_state_is_reset_with_moto(credentials: None) -> None:
    with mock_aws():
        Lineage().fine_tune("support-it0001", ROUND_1)
        assert standin_backend(DEFAULT_ACCOUNT_ID, REGION).list_custom_models({})["modelSummaries"]
    with mock_aws():  # starting a mock resets every moto backend, the stand-in's included
        assert Lineage().bedrock.list_custom_models()["modelSummaries"] == []


def test_reset_forgets_everything(lineage: Lineage, standin: BedrockStandIn) -> None:
    job = lineage.fine_tune("support-it0001", ROUND_1)
    standin.reset()
    with pytest.raises(ClientError) as error:
        lineage.job(job["jobArn"])
    assert error_code(error) == "ResourceNotFoundException"


# Over HTTP, through a moto server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server_endpoint() -> Iterator[str]:
    install_bedrock_standin()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_routes_work_over_a_moto_server(server_endpoint: str) -> None:
    lineage = Lineage(
        endpoint_url=server_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    parent = lineage.fine_tune("http-it0001", ROUND_1)
    child = lineage.fine_tune("http-it0002", ROUND_2, base=parent["outputModelArn"])
    assert child["status"] == "Completed"
    assert (
        lineage.job(child["jobArn"])["jobName"] == "iterft-http-it0002"
    )  # an ARN, slashes and all, in the path
    deployment = lineage.deploy("http-eval", child["outputModelArn"])
    assert answer(lineage.runtime, deployment, "How do I reset my password?") == ROUND_1[0][1]
    assert answer(lineage.runtime, deployment, "Why are my files not syncing?") == ROUND_2[5][1]
    body = {"messages": [{"role": "user", "content": [{"text": "How do I share a folder?"}]}]}
    out = json.loads(lineage.runtime.invoke_model(modelId=deployment, body=json.dumps(body))["body"].read())
    assert out["output"]["message"]["content"][0]["text"] == ROUND_2[2][1]
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, child["outputModelArn"], "How do I reset my password?")
    assert error_code(error) == "ValidationException"
    assert lineage.bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == {}


def test_evaluation_jobs_work_over_a_moto_server(server_endpoint: str) -> None:
    """moto routes the evaluation-job paths (the plural collection, the singular stop) to the stand-in."""
    lineage = Lineage(
        endpoint_url=server_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    dataset = lineage.upload("eval/http.jsonl", prompt_dataset(ROUND_1[:3]))
    done = lineage.bedrock.create_evaluation_job(**evaluation_request("http-eval", dataset, [FOUNDATION]))
    job = finished(lineage, done["jobArn"])  # an ARN, slash and all, in the path
    assert job["status"] == "Completed"
    [lines] = output_lines(lineage, job).values()
    assert [scores_of(line)["Accuracy"] for line in lines] == [0.0, 0.0, 0.0]
    stopped = lineage.bedrock.create_evaluation_job(
        **evaluation_request("http-eval-stopped", dataset, [FOUNDATION])
    )["jobArn"]
    lineage.bedrock.stop_evaluation_job(jobIdentifier=stopped)
    assert evaluation(lineage, stopped)["status"] == "Stopped"
    listed = lineage.bedrock.list_evaluation_jobs(nameContains="http-eval")["jobSummaries"]
    assert {job["jobName"]: job["status"] for job in listed} == {
        "http-eval": "Completed",
        "http-eval-stopped": "Stopped",
    }
