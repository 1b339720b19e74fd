"""The stable pointer applications read: one SSM parameter per lineage holding what to invoke.

The stack creates each parameter (with the starting point's identifier); only a completed
promotion or rollback moves it, so a reader never sees a model that is not yet in service.
"""

from __future__ import annotations

from iterft_runtime.dal.clients import client


def publish(parameter_name: str, model_identifier: str) -> None:
    client("ssm").put_parameter(Name=parameter_name, Value=model_identifier, Type="String", Overwrite=True)


def read(parameter_name: str) -> str:
    return str(client("ssm").get_parameter(Name=parameter_name)["Parameter"]["Value"])
