"""The socket hub (invitations/realtime/hub.py): one Redis subscription per
group per process, fanned out to the sockets here, through the real ASGI
stack, the real Redis and the real publisher (publish.py)."""

import asyncio
import json

import pytest
import redis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from redis import asyncio as aioredis

from invitations.calls import actions
from invitations.models import Connection
from invitations.realtime import hub, publish
from tests.realtime.test_consumer import (  # noqa: F401
    close_sync_thread_connections,
    closed_with,
    connect,
    frames,
    tokens,
    ws,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]


def subscribers(group: str) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return dict(client.pubsub_numsub(hub.group_channel(group)))[hub.group_channel(group).encode()]
    finally:
        client.close()


async def channel_of(user, device: str) -> str:
    return await database_sync_to_async(lambda: Connection.objects.get(user=user, device_id=device).channel_name)()


async def test_a_commands_result_comes_before_the_events_it_caused(tokens):
    """Frames the hub delivers while a command runs wait for its result, as with channels' consumer."""
    a, _ = await connect(tokens["alice"], "a1")
    b, _ = await connect(tokens["bob"], "b1")
    for i in range(5):
        await a.send_json_to({"type": "cmd", "id": i, "cmd": "callInvite", "data": {"invitees": ["bob"]}})
        got = await frames(a, 3)
        assert [f["type"] for f in got] == ["result", "event", "event"], got
        call_id = got[0]["data"]["callID"]
        await frames(b, 2)
        await a.send_json_to({"type": "cmd", "id": "c", "cmd": "callCancel", "data": {"callID": call_id}})
        got = await frames(a, 3)
        assert [f["type"] for f in got] == ["result", "event", "event"], got
        await frames(b, 2)
    await a.disconnect()
    await b.disconnect()


async def test_one_subscription_per_user_and_gone_with_the_last_socket(tokens, alice, bob):
    group = publish.user_group(alice.pk)
    a1, _ = await connect(tokens["alice"], "a1")
    a2, _ = await connect(tokens["alice"], "a2")
    assert subscribers(group) == 1  # two sockets of this process, one subscription
    await database_sync_to_async(actions.call_invite)(user=bob, invitees=["alice"])
    for comm in (a1, a2):
        assert [f["event"] for f in await frames(comm, 2)] == ["callInvitationReceived", "callUserStateChanged"]
    await a1.disconnect()
    await database_sync_to_async(actions.call_cancel)(
        user=bob, call_id=(await database_sync_to_async(lambda: alice.call_memberships.get().call.call_id)())
    )
    assert [f["event"] for f in await frames(a2, 2)] == ["callInvitationCancelled", "callUserStateChanged"]
    assert subscribers(group) == 1
    await a2.disconnect()
    for _ in range(50):  # unsubscribed in the background
        if subscribers(group) == 0:
            break
        await asyncio.sleep(0.05)
    assert subscribers(group) == 0
    assert not any(n.endswith(group) for n in hub.hub().groups)


async def test_send_to_channels_reaches_exactly_the_named_sockets(tokens, alice):
    a1, _ = await connect(tokens["alice"], "a1")
    a2, _ = await connect(tokens["alice"], "a2")
    b1, _ = await connect(tokens["bob"], "b1")
    one, other = await channel_of(alice, "a1"), await channel_of(alice, "a2")
    assert hub.process_of(one) == hub.process_of(other) == hub.hub().process_channel
    # a plain channel-layer channel (not a hub socket) is still reached through the layer
    layer = get_channel_layer()
    plain = await layer.new_channel()
    assert hub.process_of(plain) is None
    frame = {"type": "event", "event": "probe", "seq": 0, "data": {}}
    await database_sync_to_async(publish.send_to_channels)([one, plain], frame)
    assert await frames(a1, 1) == [frame]
    assert await a2.receive_nothing(0.3) and await b1.receive_nothing(0.1)
    message = await asyncio.wait_for(layer.receive(plain), 5)
    assert [json.loads(t) for t in message["texts"]] == [frame]
    await database_sync_to_async(publish.send_to_channels)([one, other], frame)  # one message for both
    assert await frames(a1, 1) == [frame] and await frames(a2, 1) == [frame]
    for comm in (a1, a2, b1):
        await comm.disconnect()


async def test_a_foreign_message_is_dropped_and_delivery_goes_on(tokens, alice):
    a, _ = await connect(tokens["alice"], "a1")
    layer = get_channel_layer()
    await layer.group_send(publish.user_group(alice.pk), {"type": "something.else", "x": 1})
    await layer.group_send(publish.user_group(alice.pk), {"type": "call.frames", "texts": ['{"n":1}']})
    assert await frames(a, 1) == [{"n": 1}]
    await a.disconnect()


async def test_sockets_leave_the_hub_however_they_end(tokens, settings, alice):
    sockets = hub.hub()
    before = len(sockets.sockets)
    settings.CALL_MAX_SOCKETS_PER_USER = 1
    first, _ = await connect(tokens["alice"], "a1")
    assert len(sockets.sockets) == before + 1
    refused = ws(tokens["alice"], "a2")
    await refused.connect(timeout=10)
    await closed_with(refused, 4429)  # over the limit: out of the hub at once
    assert len(sockets.sockets) == before + 1
    await refused.disconnect()
    await first.disconnect()
    assert len(sockets.sockets) == before


async def test_the_loop_publisher_reaches_hub_sockets_too(tokens, alice):
    """The publisher for a layer on several Redis hosts goes through the layer: same wire, same delivery."""
    a, _ = await connect(tokens["alice"], "a1")
    one = await channel_of(alice, "a1")
    publisher = publish._LoopPublisher()
    await database_sync_to_async(publisher.publish)(
        [("group", publish.user_group(alice.pk), {"type": "call.frames", "texts": ['{"n":1}', '{"n":2}']})], "test"
    )
    assert await frames(a, 2) == [{"n": 1}, {"n": 2}]
    await database_sync_to_async(publisher.publish)(
        [("channel", hub.process_of(one), {"type": "call.frames", "texts": ['{"n":3}'], "to": [one]})], "test"
    )
    assert await frames(a, 1) == [{"n": 3}]
    await a.disconnect()


def test_the_direct_publisher_is_used_for_one_redis_by_url():
    assert isinstance(publish._make_publisher(), publish._DirectPublisher)


async def test_the_consumer_is_a_channels_consumer_without_a_layer_channel(tokens, alice):
    """CallConsumer is channels' AsyncWebsocketConsumer, routed by .as_asgi(), but
    its socket takes no channel-layer channel: its name is the hub's."""
    from channels.generic.websocket import AsyncWebsocketConsumer

    from invitations.realtime.consumer import CallConsumer
    from invitations.realtime.routing import websocket_urlpatterns

    assert issubclass(CallConsumer, AsyncWebsocketConsumer)
    assert websocket_urlpatterns[0].callback.consumer_class is CallConsumer
    a, _ = await connect(tokens["alice"], "a1")
    name = await channel_of(alice, "a1")
    assert hub.process_of(name) == hub.hub().process_channel  # not a layer channel
    assert not get_channel_layer().channels  # the layer subscribed to no channel of its own
    await a.disconnect()


async def test_messages_do_not_wait_for_the_shared_sync_thread(tokens):
    """channels' dispatch hops to the one shared sync thread (aclose_old_connections)
    before every message; ours does not, so a busy sync thread delays no frame."""
    from asgiref.sync import sync_to_async

    a, _ = await connect(tokens["alice"], "a1")
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def busy() -> None:  # holds the shared sync thread until released
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=30)

    blocker = asyncio.ensure_future(sync_to_async(busy, thread_sensitive=True)())
    try:
        await asyncio.sleep(0.1)
        await a.send_json_to({"type": "ping"})
        assert await a.receive_json_from(timeout=3) == {"type": "pong"}
        await a.send_json_to({"type": "cmd", "id": 1, "cmd": "queryUsers", "data": {}})
        assert (await a.receive_json_from(timeout=3))["ok"] is True
    finally:
        release.set()
        await blocker
    await a.disconnect()


class _Socket:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.got = asyncio.Event()

    async def deliver(self, texts: list[str]) -> None:
        self.texts += texts
        self.got.set()


@pytest.fixture
def two_redis_layer(tmp_path, settings):
    """The pub/sub layer on two Redis servers of this test's own."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from tests.test_faults import PrivateRedis

    servers = [PrivateRedis(tmp_path), PrivateRedis(tmp_path)]
    config = {"hosts": [s.url for s in servers], "prefix": settings.REDIS_PREFIX}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": hub.PUBSUB_LAYER, "CONFIG": config}}
    try:
        yield servers, RedisPubSubChannelLayer(**config)
    finally:
        for server in servers:
            server.kill()


GROUP_NAMES = [f"user.{n}" for n in range(40)] + [publish.presence_group(None), "é-group"]


async def test_the_shard_is_the_one_the_layers_group_send_publishes_to(two_redis_layer):
    """shard_index, read off the layer's public group_send: each group's message lands on the
    Redis shard_index names (both Redis servers get some)."""
    servers, layer = two_redis_layer
    listeners = []
    for server in servers:
        pubsub = aioredis.Redis.from_url(server.url).pubsub()
        await pubsub.psubscribe(f"{layer.prefix}__group__*")
        listeners.append(pubsub)
    landed: dict[str, int] = {}
    try:
        for group in GROUP_NAMES:
            await layer.group_send(group, {"type": "call.frames", "texts": []})
        for index, pubsub in enumerate(listeners):
            while (message := await pubsub.get_message(timeout=0.5)) is not None:
                if message["type"] == "pmessage":
                    landed[message["channel"].decode()] = index
    finally:
        for pubsub in listeners:
            await pubsub.aclose()
        await layer.flush()
    names = [hub.group_channel(g) for g in GROUP_NAMES]
    expected = {name: hub.shard_index(name, 2) for name in names}
    assert landed == expected
    assert set(landed.values()) == {0, 1}


async def test_group_send_through_a_two_redis_layer_reaches_the_hubs_sockets(two_redis_layer):
    _, layer = two_redis_layer
    sockets = hub.SocketHub()
    assert len(sockets.shards) == 2
    try:
        by_group = {}
        for group in GROUP_NAMES:
            socket = by_group[group] = _Socket()
            await sockets.join(group, await sockets.add(socket))
        await asyncio.sleep(0.2)  # the subscriptions are written; Redis confirms them meanwhile
        for group in GROUP_NAMES:
            await layer.group_send(group, {"type": "call.frames", "texts": [group]})
        for group, socket in by_group.items():
            await asyncio.wait_for(socket.got.wait(), 5)
            assert socket.texts == [group]
    finally:
        await sockets.close()
        await layer.flush()


def _attributes_set(function) -> set[str]:
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        t.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    }


def test_the_consumers_own_receive_loop_still_matches_channels():
    """CallConsumer.__call__ stands in for channels' AsyncConsumer.__call__ (which has no
    hook for the receive loop) and its dispatch for channels' (no switch for the
    sync-thread hop). If channels changes either, this says so: the attributes its
    __call__ sets without a layer are the ones ours sets, and what ours leaves out is
    still there to leave out."""
    import inspect

    from channels.consumer import AsyncConsumer

    from invitations.realtime.consumer import CallConsumer

    with_a_layer_only = {"channel_name", "channel_receive"}
    assert _attributes_set(AsyncConsumer.__call__) - with_a_layer_only == {"scope", "channel_layer", "base_send"}
    assert {"scope", "channel_layer", "base_send"} <= _attributes_set(CallConsumer.__call__)
    assert "await_many_dispatch(" in inspect.getsource(AsyncConsumer.__call__)
    assert "await aclose_old_connections()" in inspect.getsource(AsyncConsumer.dispatch)


async def test_an_idle_socket_runs_no_task_of_its_own(tokens):
    """An idle socket is the server's (here the communicator's) one task awaiting receive():
    no task per pending receive() (channels' await_many_dispatch would add one)."""
    first, _ = await connect(tokens["alice"], "a1")  # the process's own tasks (the hub's reader) start
    await asyncio.sleep(0.1)
    before = len(asyncio.all_tasks())
    sockets = [(await connect(tokens[name], "d1"))[0] for name in ("bob", "carol", "dave")]
    await asyncio.sleep(0.1)
    assert len(asyncio.all_tasks()) - before == len(sockets)
    for comm in [first, *sockets]:
        await comm.disconnect()
