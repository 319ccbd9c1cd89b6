"""Delivery to the sockets of this process: one Redis pub/sub subscription per
group (a user's devices, the presence list) with sockets here, and one for
the process itself, fanned out locally.

The channel layer (channels_redis' RedisPubSubChannelLayer) would give every
socket a channel of its own: an asyncio.Queue, a Redis subscription, a task
waiting on it and a message decoded once per socket. Here a message is decoded
once per process and written straight to each socket. The wire stays the
layer's: a group is the Redis channel the layer's group_send publishes to and
a message is the layer's serialization, so group_send from anywhere (realtime/publish.py,
tests) reaches these sockets. A socket's channel name is this process's
channel plus a local id ("<process channel>!<n>"); events.send_to_channels
publishes a frame for such names once per process, naming the sockets.
"""

from __future__ import annotations

import asyncio
import binascii
import itertools
import logging
import types
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis import asyncio as aioredis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

logger = logging.getLogger(__name__)

LOCAL_SEPARATOR = "!"
PUBSUB_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"


class Socket(Protocol):
    async def deliver(self, texts: list[str]) -> None: ...


def layer_config() -> dict[str, Any]:
    return settings.CHANNEL_LAYERS["default"].get("CONFIG", {})


def layer_prefix() -> str:
    return layer_config().get("prefix", "asgi")


def group_channel(group: str) -> str:
    """The Redis channel the pub/sub layer's group_send publishes `group` to."""
    return f"{layer_prefix()}__group__{group}"


def layer_hosts() -> list[dict[str, Any]]:
    """The layer's Redis hosts as connection settings, read as channels_redis
    documents its "hosts" option: a URL string, a (host, port) pair, or a dict
    (an "address" URL plus redis-py options, a Sentinel's "master_name" and
    "sentinels", or redis-py connection options). None: the local Redis."""
    hosts = layer_config().get("hosts")
    if not hosts:
        return [{"address": "redis://localhost:6379"}]
    if isinstance(hosts, (str, bytes)):
        raise ImproperlyConfigured("CHANNEL_LAYERS hosts must be a list of Redis hosts, even of one")
    decoded: list[dict[str, Any]] = []
    for entry in hosts:
        if isinstance(entry, dict):
            decoded.append(dict(entry))
        elif isinstance(entry, (tuple, list)):
            decoded.append({"host": entry[0], "port": entry[1]})
        else:
            decoded.append({"address": entry})
    return decoded


def connection_pool(host: dict[str, Any]) -> aioredis.ConnectionPool:
    """A redis-py pool for one entry of layer_hosts()."""
    options = dict(host)
    if "address" in options:
        return aioredis.ConnectionPool.from_url(options.pop("address"), **options)
    if "master_name" in options:
        sentinel = Sentinel(options.pop("sentinels"), sentinel_kwargs=options.pop("sentinel_kwargs", None))
        return SentinelConnectionPool(options.pop("master_name"), sentinel, **options)
    return aioredis.ConnectionPool(**options)


def shard_index(name: str, shards: int) -> int:
    """Which of `shards` Redis hosts the pub/sub layer uses for a channel or
    group's Redis channel name, so the hub subscribes where group_send publishes.

    channels_redis (4.x, RedisPubSubChannelLayer) takes the name's CRC-32
    (binascii.crc32 of its UTF-8), keeps its low 12 bits (0..4095) and cuts
    that range into `shards` equal parts: int(crc & 0xFFF / (4096 / shards)).
    Not crc32 % shards. tests/realtime/test_socket_hub.py pins it against the layer's
    own group_send on two Redis servers."""
    if shards == 1:
        return 0
    crc = binascii.crc32(name.encode("utf-8")) & 0xFFF
    return int(crc / (4096 / shards))


def process_of(channel_name: str) -> str | None:
    """The process channel a hub socket's channel name belongs to (None: not a hub socket)."""
    head, sep, tail = channel_name.rpartition(LOCAL_SEPARATOR)
    return head + sep if sep and tail.isdigit() else None


class _Shard:
    """One Redis (of the layer's hosts): its pub/sub connection and reader task."""

    def __init__(self, hub: SocketHub, host: dict[str, Any]) -> None:
        self.hub = hub
        self.redis = aioredis.Redis(connection_pool=connection_pool(host))
        self.pubsub = self.redis.pubsub()
        self.lock = asyncio.Lock()  # subscribe/unsubscribe in the order they were asked
        self.reader: asyncio.Task | None = None
        self.subscribed = asyncio.Event()
        self.names: set[str] = set()

    async def subscribe(self, name: str) -> None:
        async with self.lock:
            if name not in self.names:
                await self.pubsub.subscribe(name)  # only written; the confirmation is read by _read
                self.names.add(name)
                self.subscribed.set()
                if self.reader is None:
                    self.reader = asyncio.get_running_loop().create_task(self._read())

    async def unsubscribe_if_unused(self, name: str) -> None:
        async with self.lock:  # a socket may have joined again while this waited
            if name in self.names and not self.hub.groups.get(name):
                self.hub.groups.pop(name, None)
                await self.pubsub.unsubscribe(name)
                self.names.discard(name)

    async def _read(self) -> None:
        while True:
            try:
                if not self.pubsub.subscribed:
                    self.subscribed.clear()
                    await self.subscribed.wait()
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    await self.hub.dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis gone: redis-py reconnects and subscribes again
                logger.exception("socket hub: reading from Redis failed")
                await asyncio.sleep(1)


class SocketHub:
    """The sockets of one event loop (one per Daphne process)."""

    def __init__(self) -> None:
        if settings.CHANNEL_LAYERS["default"]["BACKEND"] != PUBSUB_LAYER:
            raise ImproperlyConfigured(f"the socket hub speaks the wire format of {PUBSUB_LAYER} only")
        self.layer = get_channel_layer()  # its serializer: the wire format of group_send
        self.shards = [_Shard(self, host) for host in layer_hosts()]
        self.process_channel = f"{layer_prefix()}specific.{uuid.uuid4().hex}{LOCAL_SEPARATOR}"
        self._ids = itertools.count(1)
        self.sockets: dict[str, Socket] = {}
        self.groups: dict[str, dict[str, Socket]] = {}  # Redis channel -> channel name -> socket
        self._cleanups: set[asyncio.Task] = set()

    def _shard(self, name: str) -> _Shard:
        return self.shards[shard_index(name, len(self.shards))]

    async def add(self, socket: Socket) -> str:
        """A socket of this process: its channel name (addressable by events.send_to_channels)."""
        name = f"{self.process_channel}{next(self._ids)}"
        self.sockets[name] = socket
        await self._shard(self.process_channel).subscribe(self.process_channel)
        return name

    async def join(self, group: str, channel_name: str) -> None:
        key = group_channel(group)
        self.groups.setdefault(key, {})[channel_name] = self.sockets[channel_name]
        # every join waits for the subscription to be written, as the layer's group_add
        await self._shard(key).subscribe(key)

    async def leave(self, group: str, channel_name: str) -> None:
        key = group_channel(group)
        members = self.groups.get(key)
        if members is None or members.pop(channel_name, None) is None:
            return
        if not members:
            await self._shard(key).unsubscribe_if_unused(key)

    def forget(self, channel_name: str, groups: Iterable[str]) -> None:
        """A socket closed: out of its groups now (it gets nothing more); a
        group left empty is unsubscribed in the background."""
        self.sockets.pop(channel_name, None)
        for key in map(group_channel, groups):
            members = self.groups.get(key)
            if members is None or members.pop(channel_name, None) is None:
                continue
            if not members:
                task = asyncio.get_running_loop().create_task(self._shard(key).unsubscribe_if_unused(key))
                self._cleanups.add(task)
                task.add_done_callback(self._cleanups.discard)

    async def dispatch(self, redis_channel: bytes | str, data: bytes) -> None:
        name = redis_channel.decode() if isinstance(redis_channel, bytes) else redis_channel
        if self.groups.get(name):
            targets = list(self.groups[name].values())
        elif name == self.process_channel:
            targets = None
        else:
            return  # unsubscribed meanwhile
        message = self.layer.deserialize(data)  # once for every socket here
        texts = message.get("texts")
        if message.get("type") != "call.frames" or not isinstance(texts, list):
            logger.warning("socket hub: dropped a message of type %r", message.get("type"))
            return
        if targets is None:  # to named sockets of this process
            targets = [s for s in (self.sockets.get(n) for n in message.get("to", ())) if s is not None]
        for socket in targets:
            try:
                await socket.deliver(texts)
            except Exception:  # one broken socket must not starve the others
                logger.exception("socket hub: delivery to a socket failed")

    async def close(self) -> None:
        """Stop reading and close the Redis connections (the loop is closing)."""
        for shard in self.shards:
            if shard.reader is not None:
                shard.reader.cancel()
                try:
                    await shard.reader
                except asyncio.CancelledError:
                    pass
            await shard.pubsub.aclose()
            await shard.redis.aclose()


_hubs: dict[asyncio.AbstractEventLoop, SocketHub] = {}


def hub() -> SocketHub:
    """This event loop's hub (Daphne runs one loop; tests may run several)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = SocketHub()
        _close_with(loop)
    return found


def _close_with(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop's hub when the loop closes (as channels_redis does for
    its layers), so that loops that come and go (tests) leave no connection."""
    close = loop.close

    def closing(self: asyncio.AbstractEventLoop) -> None:
        found = _hubs.pop(loop, None)
        if found is not None and not loop.is_closed():
            try:
                loop.run_until_complete(found.close())
            except Exception:
                logger.warning("socket hub: closing its Redis connections failed", exc_info=True)
        self.close = close  # type: ignore[method-assign]
        close()

    loop.close = types.MethodType(closing, loop)  # type: ignore[method-assign]
