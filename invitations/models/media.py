"""Media servers (Janus), the VideoRoom of each call that uses one, the tokens handed
to its members, and the room work that leaves the site (an outbox). Written only by
invitations/media/."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from invitations.models.calls import Call
from invitations.models.delivery import OutboxRow

USER = settings.AUTH_USER_MODEL


class MediaServer(models.Model):
    """What the site knows of one Janus of CALL_SFU_URLS: a row once it was checked."""

    url = models.CharField(max_length=500, unique=True)
    # While set and ahead, the server gets no new room (it stopped answering).
    down_until = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)  # failed checks in a row
    last_error = models.CharField(max_length=500, blank=True, default="")
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url


class MediaRoom(models.Model):
    """A call's VideoRoom on one Janus. A call has at most one live room (closed_at unset);
    a room is closed when its call's media ends or its Janus stops answering."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="media_rooms")
    server_url = models.CharField(max_length=500)
    room = models.BigIntegerField()  # the VideoRoom room number (below 2**53: a JavaScript number)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["call"], condition=Q(closed_at__isnull=True), name="one_live_room_per_call"
            ),
            models.UniqueConstraint(fields=["server_url", "room"], name="one_room_number_per_server"),
        ]
        indexes = [
            models.Index(fields=["server_url"], name="live_rooms_by_server", condition=Q(closed_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"room {self.room} on {self.server_url}"


class MediaGrant(models.Model):
    """A token that lets one member join one room (in the room's allowed list until removed)."""

    room = models.ForeignKey(MediaRoom, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=300)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["room", "user"], name="grants_by_room_user")]

    def __str__(self) -> str:
        return f"grant {self.pk} for {self.user_id} in {self.room_id}"


class MediaTask(OutboxRow):
    """Outbox row: room work done from the workers after commit, at least once.

    `remove`: the member stopped being Accepted (or moved device): its tokens known
    then are taken out of the allowed list and its participant is kicked.
    `destroy`: the call's media is over (or the room was left on a Janus that went down)."""

    REMOVE = "remove"
    DESTROY = "destroy"

    room = models.ForeignKey(MediaRoom, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=16, choices=[(REMOVE, "Remove a member"), (DESTROY, "Destroy the room")])
    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    tokens = models.JSONField(default=list, blank=True)  # the member's tokens when it left
    # The member's newest grant then (0: none): a later grant means it came back, so its
    # participant is the new one and is not kicked.
    grant_upto = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="media_task_due", condition=Q(status="pending")),
            models.Index(fields=["room", "user"], name="media_task_by_member"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} task {self.pk}"
