"""One round, top to bottom like README.md's flow (numbered as there); each sub-flow is a fragment.

docs/architecture.md lists each state's input and result path. Every task from Validate through
Promote/Discard catches `States.ALL` into `$.error` and takes the failure path: clean up, then finish.
"""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from iterft_runtime.logic.dispatch import ROLLBACK_KIND

from stacks.workflow.decide import Decide
from stacks.workflow.evaluate import Evaluate
from stacks.workflow.finish import Finish
from stacks.workflow.promote import PromoteOrDiscard
from stacks.workflow.steps import Steps, catch_failures
from stacks.workflow.train import Train


def round_flow(scope: Construct, steps: Steps) -> sfn.IChainable:
    """The round's states, from `Rollback?` to `Round complete` / `Round failed`."""
    # Any failure: clean up what the round created, then finish like any other round.
    clean_up = steps.invoke(scope, "Clean up failed round", "clean_up", "$.outcome")
    # 0. A rollback (`iterft rollback`) skips training and evaluation: it swaps an earlier promoted
    #    iteration's model back in through the promotion's own steps (8).
    is_rollback = sfn.Choice(scope, "Rollback?")
    begin_rollback = steps.invoke(scope, "Begin rollback", "begin_rollback", "$")
    # 1-4. Validate, Begin, Fine-tune, Collect training metrics.
    train = Train(scope, "Train", steps, on_failure=clean_up)
    # 5-6. Evaluation capacity, then the candidate scored on the lineage's fixed set.
    evaluate = Evaluate(scope, "Evaluate", steps, on_failure=clean_up)
    # 7. Decide (and, where the lineage asks, a human approves).
    decide = Decide(scope, "Decide", steps, on_failure=clean_up)
    # 8. Promote or discard.
    outcome = PromoteOrDiscard(scope, "PromoteOrDiscard", steps, on_failure=clean_up)
    # 9. Retention, Finish, the next queued upload.
    finish = Finish(scope, "Finish", steps)

    is_rollback.when(sfn.Condition.string_equals("$.kind", ROLLBACK_KIND), begin_rollback)
    is_rollback.otherwise(train)
    begin_rollback.next(outcome.swap_serving)
    catch_failures([begin_rollback], clean_up)
    train.when_invalid(finish)
    train.next(evaluate).next(decide)
    decide.connect(promote=outcome, discard=outcome.discard)
    outcome.next(finish)
    clean_up.next(finish)
    return is_rollback
