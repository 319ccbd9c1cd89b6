"""The name that keeps a site's Redis keys, channels and queue apart from another site's
on the same Redis (settings.REDIS_PREFIX when the environment names none)."""

import hashlib
import json

import dj_database_url


def site_prefix(database: dj_database_url.DBConfig, redis_url: str) -> str:
    """A name of this site's own, the same in each of its processes: a digest of
    where its data lives (database engine, host, port and name; Redis host, port
    and db number), credentials and options left out."""
    from redis.connection import parse_url

    redis = parse_url(redis_url)
    name = str(database.get("NAME") or "")
    # A Unix socket's folder comes as the `host` option (postgres://user@/db?host=/path).
    host = database.get("HOST") or (database.get("OPTIONS") or {}).get("host") or ""
    where = [
        database["ENGINE"],
        str(host).lower(),
        str(database.get("PORT") or ""),
        name,
        str(redis.get("host", "")).lower(),
        str(redis.get("port", "")),
        str(redis.get("path", "")),
        str(redis.get("db", 0)),
    ]
    return "callsite-" + hashlib.sha256(json.dumps(where).encode()).hexdigest()[:12]
