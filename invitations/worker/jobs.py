"""RQ jobs: triggers only. Each re-reads the database under a lock (in the
service it calls) and does nothing unless there is something due, so a late,
early or doubled job is harmless; the sweep catches whatever a lost job missed.
"""

import logging
import time

from invitations.calls import deadlines, selectors
from invitations.delivery import push, webhooks
from invitations.media import rooms
from invitations.worker import runner

logger = logging.getLogger(__name__)

# RQ keeps a scheduled job's time in whole seconds and may start it up to a
# second early; a job that starts early waits (at most this long) instead.
MAX_EARLY_WAIT_SECONDS = 2.0


def _wait_until(not_before_ms: int) -> None:
    # +1 ms: the deadline was truncated to whole ms, so waking at not_before_ms can be
    # up to 1 ms early, find nothing due, and leave the timeout to the (slower) sweep.
    delay = (not_before_ms + 1) / 1000 - time.time()
    if 0 < delay <= MAX_EARLY_WAIT_SECONDS:
        time.sleep(delay)


def expire_invitations(not_before_ms: int) -> int:
    """Expire what is due from not_before_ms to the end of that second.

    No longer scheduled: the worker's deadline waiter (runner.DeadlineWaiter)
    expires invitations at their deadlines. Kept so that jobs an earlier
    version scheduled (one per second of deadlines) still run harmlessly.
    """
    _wait_until(not_before_ms)
    expired = deadlines.invitations_expire_due()
    if time.time() < not_before_ms / 1000:  # run long before its time: not this job's second yet
        return expired
    second_end = not_before_ms // 1000 + 1  # epoch seconds
    while True:
        upcoming = selectors.next_pending_deadline(before=second_end)
        if upcoming is None or time.time() > second_end + 1:
            return expired
        time.sleep(min(1.0, max(0.005, upcoming - time.time() + 0.001)))
        expired += deadlines.invitations_expire_due()


def check_not_received(not_before_ms: int) -> int:
    _wait_until(not_before_ms)
    return deadlines.invitations_mark_not_received()


def check_caller_offline(user_id: int, not_before_ms: int) -> int:
    _wait_until(not_before_ms)
    return deadlines.callers_offline_cancel(user_id=user_id)


def check_members_away(user_id: int, not_before_ms: int) -> int:
    _wait_until(not_before_ms)
    return deadlines.members_away_quit(user_id=user_id)


def sweep() -> dict[str, int]:
    return deadlines.sweep()


def push_deliver(message_pk: int) -> str:
    return runner.run_delivery(push.push_message_deliver, message_pk=message_pk)


def webhook_deliver(message_pk: int) -> str:
    return runner.run_delivery(webhooks.webhook_message_deliver, message_pk=message_pk)


def media_task_deliver(task_pk: int) -> str:
    return runner.run_delivery(rooms.media_task_deliver, task_pk=task_pk)
