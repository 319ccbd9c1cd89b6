"""Presence: web processes, open sockets, devices that went away."""

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL
SERVER_ID_MAX_LENGTH = 64


class ServerProcess(models.Model):
    """A running web (Daphne) process; its heartbeat proves its connections live."""

    server_id = models.CharField(max_length=SERVER_ID_MAX_LENGTH, primary_key=True)
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        verbose_name_plural = "server processes"

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


class Connection(models.Model):
    """One open WebSocket: the presence of one device."""

    channel_name = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="connections")
    device_id = models.CharField(max_length=128)
    server = models.ForeignKey(ServerProcess, on_delete=models.CASCADE, related_name="connections")
    connected_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user"])]

    def __str__(self) -> str:
        return f"{self.user}/{self.device_id}"


class DeviceAway(models.Model):
    """A call device with no socket since `since`: an Accepted member whose call
    device this is becomes Quit (offline) once it has been away for
    CALL_HEARTBEAT_TIMEOUT_SECONDS (calls/deadlines.py). Made when the device's
    last socket closes, removed when it connects again."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    device_id = models.CharField(max_length=128)
    since = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "device_id"], name="one_away_row_per_device")]

    def __str__(self) -> str:
        return f"{self.user}/{self.device_id} away since {self.since}"


class UserPresence(models.Model):
    """When the user's last device went away (for the caller-offline rule)."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, primary_key=True, related_name="presence")
    last_offline_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} offline since {self.last_offline_at}"


class UserStatus(models.Model):
    """Do not disturb (PROTOCOL "Do not disturb"): invitations to a user in `dnd` are
    silent and pushed to nobody. `until` ends a dnd by itself: past it, the status reads
    available (accounts/status.py), so nothing has to run at that moment."""

    AVAILABLE = "available"
    DND = "dnd"
    STATUSES = [(AVAILABLE, "available"), (DND, "do not disturb")]

    user = models.OneToOneField(USER, on_delete=models.CASCADE, primary_key=True, related_name="+")
    status = models.CharField(max_length=16, choices=STATUSES, default=AVAILABLE)
    until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "user statuses"

    def __str__(self) -> str:
        return f"{self.user_id} {self.status} until {self.until}"
