"""A small PROTOCOL client over the `websockets` library, for end-to-end tests."""

import asyncio
import itertools
import json
from typing import Any

import requests
import websockets


def api_token(base: str, username: str, password: str) -> str:
    response = requests.post(f"{base}/api/auth/token", json={"username": username, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["token"]


class Client:
    def __init__(self, ws: Any, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.hello = hello
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.results: dict[Any, dict[str, Any]] = {}

    @classmethod
    async def connect(cls, base: str, token: str, device_id: str = "", **kwargs: Any) -> "Client":
        url = base.replace("http", "ws", 1) + "/ws/calls/" + (f"?deviceID={device_id}" if device_id else "")
        ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, **kwargs)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello", hello
        return cls(ws, hello)

    @classmethod
    async def connect_as_app_page(cls, base: str, token: str, origin: str, device_id: str = "") -> "Client":
        """As an app's page on `origin` connects (PROTOCOL "Apps"): no credentials on the
        upgrade, the app token as the first frame."""
        url = base.replace("http", "ws", 1) + "/ws/calls/" + (f"?deviceID={device_id}" if device_id else "")
        ws = await websockets.connect(url, origin=origin)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello", hello
        return cls(ws, hello)

    async def _pump(self, timeout: float) -> None:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame["type"] == "event":
            self.events.append(frame)
        elif frame["type"] == "result":
            self.results[frame["id"]] = frame

    async def cmd(self, name: str, timeout: float = 10, **data: Any) -> dict[str, Any]:
        cmd_id = next(self.ids)
        await self.ws.send(json.dumps({"type": "cmd", "id": cmd_id, "cmd": name, "data": data}))
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while cmd_id not in self.results:
            await self._pump(max(0.01, end - loop.time()))
        return self.results.pop(cmd_id)

    async def event(self, name: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """The first unconsumed event called `name` whose data matches `match`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            for i, frame in enumerate(self.events):
                if frame["event"] == name and all(frame["data"].get(k) == v for k, v in match.items()):
                    return self.events.pop(i)
            await self._pump(max(0.01, end - loop.time()))

    async def close(self) -> None:
        await self.ws.close()
