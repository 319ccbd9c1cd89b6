"""django_rq's rqworker, listening on CALL_QUEUE when no queue is named (django_rq's
own would take "default", which is not this site's queue)."""

from typing import Any

from django.conf import settings
from django_rq.management.commands.rqworker import Command as DjangoRQWorkerCommand


class Command(DjangoRQWorkerCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*(args or (settings.CALL_QUEUE,)), **options)
