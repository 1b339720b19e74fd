"""Bedrock model invocation logging, an account-and-region setting: read it, and enable it only where
there is none (PutModelInvocationLoggingConfiguration replaces the whole configuration, so an existing
one, which other teams may rely on, is never overwritten)."""

from __future__ import annotations

from typing import Any

from iterft_runtime.dal.clients import client


def current() -> dict[str, Any]:
    """The region's logging configuration (`{}` when none is set)."""
    return dict(client("bedrock").get_model_invocation_logging_configuration().get("loggingConfig") or {})


def destination(config: dict[str, Any]) -> str | None:
    """Where a configuration delivers to S3 (`s3://bucket/prefix`), or None (none, or CloudWatch only)."""
    s3 = config.get("s3Config") or {}
    if not s3.get("bucketName"):
        return None
    prefix = str(s3.get("keyPrefix") or "").strip("/")
    return f"s3://{s3['bucketName']}/{prefix + '/' if prefix else ''}"


def is_set(config: dict[str, Any]) -> bool:
    return bool(config.get("s3Config") or config.get("cloudWatchConfig"))


def enable_if_absent(bucket: str, key_prefix: str) -> str:
    """Put text logging to `s3://bucket/key_prefix` when the region has no configuration; what was done."""
    existing = current()
    if is_set(existing):
        return f"kept the existing configuration (S3: {destination(existing) or 'none'})"
    client("bedrock").put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": bucket, "keyPrefix": key_prefix},
            "textDataDeliveryEnabled": True,
            "imageDataDeliveryEnabled": False,
            "embeddingDataDeliveryEnabled": False,
        }
    )
    return f"enabled: s3://{bucket}/{key_prefix}/"
