"""The operation machinery (calls/operation.py): what an operation did is
handed, as OperationRecords, to the registered handlers inside its
transaction, for single operations and batches alike."""

import pytest

from invitations.calls import actions, deadlines, operation
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser
from tests.calls.helpers import backdate_deadline, invite, online

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def records(monkeypatch):
    seen: list = []
    monkeypatch.setattr(operation, "_record_handlers", [])
    operation.register_record_handler(seen.extend)
    return seen


def changes(record) -> list[tuple]:
    return [(c.username, c.from_state, c.to_state, c.reason) for c in record.changes]


def test_invite_record_says_created_and_who_was_offline(alice, bob, carol, records):
    online(bob)
    call_id = invite(alice, bob, carol)
    [record] = records
    assert record.call.call_id == call_id and record.seq == 1 and record.created and not record.ended
    assert changes(record) == [
        ("alice", S.UNKNOWN, S.ACCEPTED, ""),
        ("bob", S.UNKNOWN, S.RECEIVED, ""),
        ("carol", S.UNKNOWN, S.INVITING, ""),
    ]
    assert record.offline_invitee_ids == (carol.pk,)


def test_answer_that_ends_the_call_records_the_end(alice, bob, records):
    call_id = invite(alice, bob)
    actions.call_reject(user=bob, call_id=call_id, reason="busy")
    record = records[-1]
    assert not record.created and record.seq == 2 and record.ended and record.operated_by == "bob"
    assert changes(record) == [("bob", S.INVITING, S.REJECTED, "busy")]


def test_refused_operation_records_nothing(alice, bob, records):
    call_id = invite(alice, bob)
    records.clear()
    with pytest.raises(CallError):
        actions.call_accept(user=alice, call_id=call_id)
    assert records == []


def test_batched_timeouts_are_recorded_per_call(alice, bob, carol, dave, records):
    first = invite(alice, bob)
    second = invite(carol, dave, mode=CallMode.ADVANCED)
    backdate_deadline(first, bob)
    backdate_deadline(second, dave)
    records.clear()
    assert deadlines.invitations_expire_due() == 2
    by_call = {r.call.call_id: r for r in records}
    assert changes(by_call[first]) == [("bob", S.INVITING, S.TIMEOUT, "timeout")]
    assert by_call[first].ended and by_call[first].operated_by == ""
    assert changes(by_call[second]) == [("dave", S.INVITING, S.TIMEOUT, "timeout")]
    assert not by_call[second].ended  # advanced: the caller is still in it


def test_a_batch_writes_every_field_a_move_changes(alice, bob, carol):
    """The batch writer is not limited to some operations: whatever move() changed is written."""
    call_id = invite(alice, bob, carol, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    ids = list(Call.objects.filter(call_id=call_id).values_list("pk", flat=True))

    def quit_bob(op: operation.Operation) -> int:
        bob_row = op.member_of(bob)
        op.device_id = "batch-device"
        op.move(bob_row, "quit", extended_data="bye")
        return 1

    assert operation.each_call_locked(ids, quit_bob) == 1
    row = CallUser.objects.get(call__call_id=call_id, user=bob)
    assert (row.state, row.extended_data, row.quit_at is not None) == (S.QUIT, "bye", True)
    assert Call.objects.get(call_id=call_id).seq == 3
