"""The RQ worker: runs jobs in-process (no fork per job, so a timeout burst is
cheap) and sweeps on start and every CALL_SWEEP_INTERVAL_SECONDS in a thread of
its own, so that no timeout waits on RQ's scheduler lock after a crash."""
import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections
from rq.worker import SimpleWorker

from . import services

logger = logging.getLogger(__name__)


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


class CallWorker(SimpleWorker):
    def work(self, *args, **kwargs):  # type: ignore[override]
        stop = threading.Event()
        threading.Thread(target=_sweep_forever, args=(stop,), name="sweep", daemon=True).start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
