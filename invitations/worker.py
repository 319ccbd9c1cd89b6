"""The RQ worker: runs jobs in-process (no fork per job, so a timeout burst is
cheap) and sweeps on start and every CALL_SWEEP_INTERVAL_SECONDS in a thread of
its own, so that no timeout waits on RQ's scheduler lock after a crash.

Deliveries that leave the site (Web Push, webhooks) run on a small thread pool
of the worker, so a slow push service or webhook receiver never holds up a
deadline job; an attempt lost with the process is retried after its lease
(services/outbox.py)."""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from django.conf import settings
from django.db import close_old_connections, connections
from rq.worker import SimpleWorker

from . import services

logger = logging.getLogger(__name__)

_deliveries: ThreadPoolExecutor | None = None


def _sweep_forever(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            result = services.sweep()
            if any(result.values()):
                logger.info("sweep: %s", result)
        except Exception:
            logger.exception("sweep failed")
        stop.wait(settings.CALL_SWEEP_INTERVAL_SECONDS)
    connections.close_all()


def _deliver(func: Callable[..., str], kwargs: dict[str, Any]) -> None:
    try:
        outcome = func(**kwargs)
        logger.debug("%s(%s): %s", func.__name__, kwargs, outcome)
    except Exception:
        logger.exception("%s(%s) failed; the sweep retries it", func.__name__, kwargs)
    finally:
        connections.close_all()  # this thread's connection goes back to the pool


def run_delivery(func: Callable[..., str], **kwargs: Any) -> str:
    """Run an outbound delivery on the worker's pool, or here when not in a CallWorker."""
    if _deliveries is None:
        return func(**kwargs)
    _deliveries.submit(_deliver, func, kwargs)
    return "handed to the delivery pool"


class CallWorker(SimpleWorker):
    def work(self, *args, **kwargs):  # type: ignore[override]
        global _deliveries
        stop = threading.Event()
        threading.Thread(target=_sweep_forever, args=(stop,), name="sweep", daemon=True).start()
        _deliveries = ThreadPoolExecutor(settings.CALL_OUTBOX_THREADS, thread_name_prefix="delivery")
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            pool, _deliveries = _deliveries, None
            pool.shutdown(wait=True, cancel_futures=True)  # attempts in flight finish (bounded by the HTTP timeout)
