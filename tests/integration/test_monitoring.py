"""The dashboard as deployed on the embedded default: created by (moto's) CloudFormation, its references
resolved to the deployed resources. (Alarms are skipped there: see README, Operating.)"""

from __future__ import annotations

import json

import pytest
from iterft_runtime import naming

from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration


def test_the_dashboard_plots_the_deployed_state_machine_and_every_lineage(
    itest_session: LocalSession,
) -> None:
    cloudwatch = itest_session.client("cloudwatch")
    name = itest_session.deployment.stack_name
    assert name in [entry["DashboardName"] for entry in cloudwatch.list_dashboards()["DashboardEntries"]]
    widgets = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])["widgets"]
    metrics = [line for widget in widgets for line in widget["properties"].get("metrics", [])]
    executions = [line for line in metrics if line[0] == "AWS/States"]
    assert executions
    assert {line[3] for line in executions} == {itest_session.deployment.state_machine_arn}
    lineages = {
        line[line.index(naming.METRIC_LINEAGE_DIMENSION) + 1] for line in metrics if line[0] == "iterft"
    }
    assert lineages == {lineage.name for lineage in itest_session.config.lineages}
