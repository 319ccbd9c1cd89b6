"""An app's tiny server: it serves the app's page and mints a call token for whoever signs
in with a name, as an app's own backend would (standard library + PyJWT; it never asks the
call site: the token is signed with the app's serverSecret).

    APP_ID=... SERVER_SECRET=... python server.py [--site http://127.0.0.1:8000] [--port 9000]

GET /                              the page (index.html), told where the call site is
GET /token?userID=..&userName=..   {"token", "userID", "userName", "expiresAt"}
GET /users                         {"users": [{userID, userName}]}: who signed in here
"""

import argparse
import json
import os
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt

APP_ID = os.environ["APP_ID"]
SERVER_SECRET = os.environ["SERVER_SECRET"]
TOKEN_SECONDS = int(os.environ.get("TOKEN_SECONDS", "3600"))  # the site accepts at most 24 h
USER_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
PAGE = (Path(__file__).parent / "index.html").read_text(encoding="utf-8")

signed_in = {}  # userID -> userName: this demo's whole user database


def mint_token(user_id: str, user_name: str) -> tuple[str, int]:
    """The call site's token for one user of this app: HS256 with the app's serverSecret."""
    now = int(time.time())
    claims = {"iss": APP_ID, "sub": user_id, "name": user_name, "iat": now, "exp": now + TOKEN_SECONDS}
    return jwt.encode(claims, SERVER_SECRET.encode("utf-8"), algorithm="HS256"), claims["exp"]


class HostApp(BaseHTTPRequestHandler):
    site = "http://127.0.0.1:8000"

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/":
            self.answer(200, PAGE.replace("__SITE__", self.site), "text/html; charset=utf-8")
        elif url.path == "/token":
            user_id, user_name = query.get("userID", ""), query.get("userName", "").strip()[:64]
            if not USER_ID.fullmatch(user_id):
                return self.answer(400, {"error": "userID: 1..64 of A-Z a-z 0-9 _ . @ -"})
            signed_in[user_id] = user_name or user_id
            token, expires_at = mint_token(user_id, signed_in[user_id])
            body = {"token": token, "userID": user_id, "userName": signed_in[user_id], "expiresAt": expires_at * 1000}
            self.answer(200, body)
        elif url.path == "/users":
            self.answer(200, {"users": [{"userID": k, "userName": v} for k, v in signed_in.items()]})
        else:
            self.answer(404, {"error": "not found"})

    def answer(self, status, body, content_type="application/json"):
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # one line per request, without the token in it
        print(f"{self.command} {urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", default=os.environ.get("SITE", "http://127.0.0.1:8000"), help="the call site")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9000")))
    args = parser.parse_args()
    HostApp.site = args.site.rstrip("/")
    print(f"host app on http://{args.host}:{args.port}/ (app {APP_ID}, site {HostApp.site})", flush=True)
    ThreadingHTTPServer((args.host, args.port), HostApp).serve_forever()
