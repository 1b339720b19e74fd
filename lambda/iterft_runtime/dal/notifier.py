"""SNS: the one topic every notification goes to."""

from __future__ import annotations

from iterft_runtime.dal.clients import client
from iterft_runtime.logic.notifications import Notification


def publish(topic_arn: str, notification: Notification) -> str:
    """Publish one notification; returns the SNS message id."""
    response = client("sns").publish(
        TopicArn=topic_arn, Subject=notification.subject, Message=notification.body
    )
    return str(response["MessageId"])
