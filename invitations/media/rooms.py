"""The VideoRoom of a call: its secret, letting a member in, and the work that follows
the call's state (DESIGN: "media is a relay or a room, never call state").

- A member who stops being Accepted (quit, away, ended, moved device) gets a `remove`
  task: its tokens come out of the room's allowed list and its participant is kicked.
- An advanced call that ends gets a `destroy` task; a general call's room (the call
  Ends once everyone answered, its media flows on) is destroyed by the sweep once its
  media window (CALL_MEDIA_MAX_SECONDS) has passed.

Tasks are outbox rows written in the operation's transaction (a record handler, its
INSERT ... SELECT riding in the operation's write round trip) and done from the workers
after commit, at least once, each conversation with Janus bounded by a deadline
shorter than the lease (delivery/outbox.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from invitations.calls import payloads
from invitations.calls.records import HandlerWrites, OperationRecord
from invitations.calls.roundtrip import Rows, Statement
from invitations.calls.states import CallMode
from invitations.calls.states import CallUserState as S
from invitations.delivery import outbox
from invitations.media import payloads as media_payloads
from invitations.media import selectors
from invitations.media.payloads import Topology
from invitations.media.sfu import JanusError, JanusNoSuchRoom, JanusRoomExists, JanusUnavailable, VideoRooms
from invitations.models import Call, CallUser, MediaGrant, MediaRoom, MediaTask, OutboxStatus
from invitations.realtime.publish import PendingFrames

logger = logging.getLogger(__name__)

JOB = "media_task_deliver"
SFU_THRESHOLD = 3  # Accepted members from which a call uses a media server
ROOM_NUMBERS = 2**53 - 1  # a room number stays a safe JavaScript integer


def room_secret(room: MediaRoom) -> str:
    """The room's VideoRoom secret, derived (never stored) from CALL_SFU_ROOM_SECRET."""
    text = f"videoroom\n{room.server_url}\n{room.room}".encode()
    return hmac.new(settings.CALL_SFU_ROOM_SECRET.encode(), text, hashlib.sha256).hexdigest()


def video_rooms(url: str, *, deadline: float | None = None) -> VideoRooms:
    return VideoRooms(
        url,
        token_secret=settings.CALL_SFU_TOKEN_SECRET,
        admin_key=settings.CALL_SFU_ADMIN_KEY,
        timeout=settings.CALL_SFU_TIMEOUT_SECONDS,
        deadline=deadline,
    )


def room_new(call: Call, url: str, now: datetime) -> MediaRoom:
    """The call's room on `url` (the caller holds the call's row lock: one live room per call)."""
    return MediaRoom.objects.create(call=call, server_url=url, room=secrets.randbelow(ROOM_NUMBERS) + 1, created_at=now)


def room_admit(room: MediaRoom, grant: MediaGrant) -> None:
    """Put the grant's token in the room's allowed list, making the room on its Janus
    first if it is not there (the first member, or a Janus that restarted; the tokens of
    the other Accepted members go in with it). Safe under races: made twice, it exists."""
    secret = room_secret(room)
    with video_rooms(room.server_url, deadline=time.monotonic() + 3 * settings.CALL_SFU_TIMEOUT_SECONDS) as rooms:
        try:
            rooms.allow(room.room, secret, [grant.token])
            return
        except JanusNoSuchRoom:
            pass
        tokens = list(dict.fromkeys([*selectors.admissible_tokens(room, timezone.now()), grant.token]))
        try:
            rooms.create(room.room, secret, tokens, publishers=2 * settings.CALL_MAX_PARTICIPANTS)  # camera + screen
        except JanusRoomExists:  # another member's request made it meanwhile
            rooms.allow(room.room, secret, [grant.token])


def room_close(room: MediaRoom, call: Call, members: list[CallUser], *, topology: Topology | None) -> None:
    """Stop using the room (its Janus went down): closed now, destroyed by a task when that
    Janus answers again, and, with a topology, every Accepted member told to ask again.
    The caller holds the call's row lock."""
    room.closed_at = timezone.now()
    room.save(update_fields=["closed_at"])
    task = MediaTask.objects.create(**_fresh_task(room.closed_at), room=room, kind=MediaTask.DESTROY)
    outbox.enqueue_on_commit(JOB, [task.pk])
    if topology is not None:
        media_changed_on_commit(call, [m.user_id for m in members if m.state == S.ACCEPTED], topology)


def media_changed_on_commit(call: Call, user_ids: list[int], topology: Topology) -> None:
    frames = PendingFrames()
    frame = payloads.event_frame("callMediaChanged", 0, media_payloads.media_changed(call.call_id, topology))
    frames.add(user_ids, frame)
    frames.send_on_commit()


# --- tasks written with the operations ------------------------------------------------------------


def write_media_rows(records: list[OperationRecord]) -> HandlerWrites | None:
    """Record handler: a `destroy` task for the live room of each advanced call that ended, a
    `remove` task for each member that stopped being Accepted or moved device (its tokens
    known now), written by one INSERT ... SELECT in the operation's write round trip (no
    room: no row); and callMediaChanged to the Accepted members of a call that reaches
    three of them (on commit, after the operation's own events)."""
    if not selectors.sfu_configured():
        return None
    work: list[tuple[int, str, int | None]] = []  # (call pk, kind, user pk)
    for record in records:
        if record.created:
            continue  # a new call has no room yet
        call = record.call
        if record.ended and call.mode == CallMode.ADVANCED:
            work.append((call.pk, MediaTask.DESTROY, None))
            continue
        for change in record.changes:
            left = change.from_state == S.ACCEPTED and change.to_state != S.ACCEPTED
            if left or (change.from_state == S.ACCEPTED and change.reason == "device_moved"):
                work.append((call.pk, MediaTask.REMOVE, change.user_id))
        _notify_if_grown(record)
    if not work:
        return None
    return HandlerWrites([_task_rows(work, timezone.now())], lambda rows: outbox.enqueue_on_commit(JOB, _pks(rows[0])))


def _notify_if_grown(record: OperationRecord) -> None:
    accepted = [m.user_id for m in record.members if m.state == S.ACCEPTED]
    came = sum(1 for c in record.changes if c.from_state != S.ACCEPTED and c.to_state == S.ACCEPTED)
    went = sum(1 for c in record.changes if c.from_state == S.ACCEPTED and c.to_state != S.ACCEPTED)
    before = len(accepted) - came + went
    if before < SFU_THRESHOLD <= len(accepted) and selectors.servers_down(timezone.now()) != set(
        settings.CALL_SFU_URLS
    ):
        media_changed_on_commit(record.call, accepted, "sfu")


def _pks(rows: Rows) -> list[int]:
    return [pk for (pk,) in rows]


# A task per (call, kind, member or NULL) for the call's open room, pending and queued now
# (its job is queued on commit), with the member's tokens in the room when it left.
TASK_ROWS = (
    "INSERT INTO invitations_mediatask (status, attempt_count, next_attempt_at, lease_until, queued_at, "
    "created_at, delivered_at, last_status, room_id, kind, user_id, tokens, grant_upto) "
    "SELECT %(pending)s::varchar, 0, %(now)s::timestamptz, NULL, %(now)s::timestamptz, %(now)s::timestamptz, "
    "NULL, NULL, r.id, v.kind, v.user_id, "
    "COALESCE((SELECT jsonb_agg(g.token ORDER BY g.id) FROM invitations_mediagrant g "
    "WHERE g.room_id = r.id AND g.user_id = v.user_id), '[]'::jsonb), "
    "COALESCE((SELECT max(g.id) FROM invitations_mediagrant g WHERE g.room_id = r.id AND g.user_id = v.user_id), 0) "
    "FROM unnest(%(call_id)s::bigint[], %(kind)s::varchar[], %(user_id)s::bigint[]) AS v(call_id, kind, user_id) "
    "JOIN invitations_mediaroom r ON r.call_id = v.call_id AND r.closed_at IS NULL ORDER BY r.id, v.user_id RETURNING id"
)


def _task_rows(work: list[tuple[int, str, int | None]], now: datetime) -> Statement:
    return Statement(
        TASK_ROWS,
        {
            "pending": OutboxStatus.PENDING,
            "now": now,
            "call_id": [call_pk for call_pk, _, _ in work],
            "kind": [kind for _, kind, _ in work],
            "user_id": [user_pk for _, _, user_pk in work],
        },
    )


def _fresh_task(now: datetime) -> dict:
    return {"status": OutboxStatus.PENDING, "next_attempt_at": now, "queued_at": now, "created_at": now}


def task_write(
    room: MediaRoom, kind: str, user_pk: int | None = None, grants: list[MediaGrant] | None = None
) -> MediaTask:
    """One task written now (outside an operation), its job queued on commit. A removal
    takes out `grants` (default: every token the member has in the room)."""
    if user_pk is not None and grants is None:
        grants = list(MediaGrant.objects.filter(room=room, user_id=user_pk).order_by("pk"))
    task = MediaTask.objects.create(
        **_fresh_task(timezone.now()),
        room=room,
        kind=kind,
        user_id=user_pk,
        tokens=[grant.token for grant in grants or []],
        grant_upto=max((grant.pk for grant in grants or []), default=0),
    )
    outbox.enqueue_on_commit(JOB, [task.pk])
    return task


# --- doing the tasks ------------------------------------------------------------------------------


def media_task_deliver(*, task_pk: int, kick_member: bool = False) -> str:
    """One attempt at one task; what happened, for the job's log. `kick_member`: kick the
    member's participant even if it came back (its new page has no token yet)."""
    row = outbox.claim(MediaTask, task_pk)
    if row is None:
        return "skipped"
    room = MediaRoom.objects.select_related("call").get(pk=row.room_id)
    code = None
    try:
        with video_rooms(
            room.server_url, deadline=time.monotonic() + settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS
        ) as rooms:
            if row.kind == MediaTask.DESTROY:
                rooms.destroy(room.room, room_secret(room))
            else:
                _remove_member(rooms, room, row, kick_member)
    except JanusNoSuchRoom:
        pass  # no room there (destroyed, or lost with a restart): nobody is in it
    except (JanusError, JanusUnavailable) as exc:
        code = exc.code if isinstance(exc, JanusError) else None
        return _failed(row, code, exc)
    with transaction.atomic():
        outbox.delivered(row, status=code)
        if row.kind == MediaTask.DESTROY and room.closed_at is None:
            MediaRoom.objects.filter(pk=room.pk, closed_at__isnull=True).update(closed_at=timezone.now())
    return "done"


def _remove_member(rooms: VideoRooms, room: MediaRoom, row: MediaTask, kick_member: bool) -> None:
    """Refuse the member's tokens first (so it cannot join again in between), then kick its
    participant and any participant whose display is no Accepted member's userID."""
    secret = room_secret(room)
    if row.tokens:
        rooms.disallow(room.room, secret, row.tokens)
    username = row.user.username if row.user is not None else ""
    members = selectors.accepted_usernames(room.call_id)
    # a member that came back on another device keeps its display: that participant is the new one
    came_back = username in members and not kick_member and selectors.came_back_since(row)
    staying = members if came_back else members - {username}
    rooms.kick_where(room.room, secret, lambda display: display not in staying)


def _failed(row: MediaTask, code: int | None, exc: Exception) -> str:
    if row.attempt_count >= settings.CALL_SFU_TASK_MAX_ATTEMPTS:
        outbox.give_up(row, status=code)
        if row.kind == MediaTask.DESTROY:  # given up: no longer counted, nor destroyed again by the sweep
            MediaRoom.objects.filter(pk=row.room_id, closed_at__isnull=True).update(closed_at=timezone.now())
        logger.warning("media task %s (%s): gave up after %d tries: %s", row.pk, row.kind, row.attempt_count, exc)
        return "failed"
    delay = outbox.backoff_seconds(row.attempt_count, base=2, factor=2, cap=120)
    outbox.retry_later(row, status=code, delay_seconds=delay)
    return f"retry in {delay:.1f}s: {exc}"


def removals_settle(room: MediaRoom, user_pk: int) -> None:
    """Do the member's pending removals now, kicking its old participant: it asks from its
    (new) call device, whose page has no token yet, so any participant of it is stale."""
    for pk in selectors.pending_removals(room, user_pk):
        media_task_deliver(task_pk=pk, kick_member=True)


def media_task_requeue_due() -> int:
    """The sweep: queue a job for every due task nobody is on."""
    return outbox.requeue_due(MediaTask, JOB)


def rooms_destroy_due() -> int:
    """The sweep: a destroy task for each live room whose call's media is over and that has
    none (a general call past its media window; an advanced one whose task was lost)."""
    if not selectors.sfu_configured():
        return 0
    window = timedelta(seconds=settings.CALL_MEDIA_MAX_SECONDS)
    rooms = selectors.rooms_media_over(general_started_before=timezone.now() - window)
    with transaction.atomic():
        for room in rooms:
            task_write(room, MediaTask.DESTROY)
    return len(rooms)
