"""The round workflow: the step Lambdas, their grants, and the Standard state machine that runs one round.

- `flow.py`: the round top to bottom like README.md's flow, composed of sub-flows (`StateMachineFragment`s):
  `train.py` (1-4), `evaluate.py` (5-6, with `shards.py`), `decide.py` (7), `promote.py` (8), `finish.py`
  (9); `poll.py` is the one poll loop, used wherever a status is polled.
- `grants.py`: the one table of step -> IAM grants, with the reason for each; the role policies and the
  cdk-nag acknowledgments of its wildcards (stacks/nag.py) are derived from it.
- `construct.py`: the Workflow construct that puts them together.

Every Lambda step retries Lambda's service errors and throttling with jittered backoff (stacks/retries.py).
"""

from stacks.workflow.construct import LONG_RUNNING_STEPS, LONG_TIMEOUT, SHORT_TIMEOUT, Workflow
from stacks.workflow.shards import shard_lists_pattern

__all__ = ["LONG_RUNNING_STEPS", "LONG_TIMEOUT", "SHORT_TIMEOUT", "Workflow", "shard_lists_pattern"]
