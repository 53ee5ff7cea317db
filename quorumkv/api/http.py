"""The HTTP/JSON API: an aiohttp adapter over :class:`~quorumkv.api.kv.KV`.

Values travel as raw bytes (``application/octet-stream``); everything else is JSON.
``/v1/kv/{keyspace}/{key}`` names the keyspace in the path (``default`` is the one
every cluster has); an unknown one is a 404 ``unknown keyspace 'x'``, as
``KV.replicator`` words it for every interface. On a strong keyspace the same
routes run core/strong commands through ``KV.strong`` (:class:`_Strong`): every
reply carries the key's version, and ``PUT ?if_version=V`` / ``?if_absent=1``
write only if the key's version is V / the key is absent (409 otherwise).
Errors are mapped to ``{"error": ...}`` with the error's HTTP status in one place,
the ``_boundary`` middleware, which also records the kv request metrics.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from urllib.parse import unquote_to_bytes

import prometheus_client
from aiohttp import web

from ..core.consistency import Level
from ..core.session import Session
from ..core.strong import commands as sc
from ..core.strong.replies import Array, Bulk, Error, Int, Nil
from ..errors import LimitError, QuorumKVError, RequestError, SyntaxError_, UnsupportedError
from ..core.scan import range_limit
from . import keyspaces, nodes
from .kv import KV
from .resp.ranges import read_range

log = logging.getLogger(__name__)
KV_ROUTE = "kv"
KV_PREFIX = "/v1/kv/"
TIMESTAMP_HEADER = "X-QKV-Timestamp"
SESSION_HEADER = "X-QKV-Session"
RECEIPT_HEADER = "X-QKV-Receipt"
VERSION_HEADER = "X-QuorumKV-Version"  # strong keyspaces: the key's version after the request
MAX_TTL_S = 10 * 365 * 24 * 3600  # a bound on expiry_ms; longer is likely a unit mistake
# Slack over max_value_bytes so a value just over the limit reaches KV.check_value and
# gets its exact size in the error; anything bigger is cut off while still being read.
BODY_SLACK_BYTES = 1024
RANGE_SORTS = ("load", "size", "range")
REQUEST_LINE_SLACK = 8190  # aiohttp's default limit, for the method, prefix and query


class HttpServer:
    def __init__(self, runner: web.AppRunner) -> None:
        self._runner = runner

    async def close(self) -> None:
        await self._runner.cleanup()


async def start_http(node) -> HttpServer:
    limits = node.config.node
    # In-flight requests get their own deadline (plus a little) to finish on shutdown.
    # The request line must fit a fully percent-encoded key (3 characters a byte).
    runner = web.AppRunner(build_app(node), access_log=None,
                           shutdown_timeout=limits.request_timeout_ms / 1000 + 1,
                           max_line_size=3 * limits.max_key_bytes + REQUEST_LINE_SLACK)
    await runner.setup()
    await web.TCPSite(runner, node.me.host, node.me.http_port).start()
    return HttpServer(runner)


def build_app(node) -> web.Application:
    app = web.Application(client_max_size=node.config.node.max_value_bytes + BODY_SLACK_BYTES,
                          middlewares=[_boundary(node)])
    h = _Handlers(node, node.kv)
    kv = app.router.add_resource(KV_PREFIX + "{keyspace}/{key:.+}", name=KV_ROUTE)
    kv.add_route("GET", h.get)
    kv.add_route("PUT", h.put)
    kv.add_route("DELETE", h.delete)
    app.router.add_get(KV_PREFIX + "{keyspace}", h.range_read)
    app.router.add_get("/v1/cluster", h.cluster)
    app.router.add_get("/v1/ranges", h.ranges)
    app.router.add_get("/v1/health", h.health)
    app.router.add_post("/v1/repair", h.repair)
    app.router.add_get("/metrics", h.metrics)
    app.router.add_post("/v1/keyspaces", h.keyspace_create)
    app.router.add_get("/v1/keyspaces", h.keyspace_list)
    app.router.add_get("/v1/keyspaces/{name}", h.keyspace_describe)
    app.router.add_delete("/v1/keyspaces/{name}", h.keyspace_drop)
    app.router.add_delete("/v1/nodes/{node_id}", h.node_remove)
    app.router.add_get("/openapi.json", h.openapi)
    return app


# ---- the boundary: errors and metrics -------------------------------------------------

def _boundary(node):
    limits = node.config.node
    too_large = (f"value too large: request body over {limits.max_value_bytes + BODY_SLACK_BYTES}"
                 f" bytes, limit is {limits.max_value_bytes} (node.max_value_bytes)")

    @web.middleware
    async def boundary(request: web.Request, handler):
        started = time.perf_counter()
        try:
            response = await handler(request)
        except QuorumKVError as exc:
            response = error_response(exc.http_status, str(exc))
        except web.HTTPRequestEntityTooLarge:
            response = error_response(LimitError.http_status, too_large)
        except web.HTTPException as exc:  # no such route, method not allowed
            response = error_response(exc.status, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = error_response(500, "internal error")
        if request.match_info.route.name == KV_ROUTE:
            _record(node.metrics, request.method, response.status, started)
        return response

    return boundary


def _record(metrics, command: str, status: int, started: float) -> None:
    metrics.requests.stats("http", command).record(outcome(status),
                                                   time.perf_counter() - started)


def outcome(status: int) -> str:
    """``ok``; ``not_found`` (a miss); ``rejected`` (client's fault); ``error`` (ours)."""
    if status < 400:
        return "ok"
    if status == 404:
        return "not_found"
    return "rejected" if status < 500 else "error"


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# ---- request parsing ---------------------------------------------------------------------

def kv_target(request: web.Request) -> tuple[str, bytes]:
    """(keyspace, key bytes); the key comes from the raw path so any bytes survive."""
    raw = request.rel_url.raw_path[len(KV_PREFIX):]
    keyspace, _, key = raw.partition("/")
    return unquote_to_bytes(keyspace).decode("utf-8", "replace"), unquote_to_bytes(key)


def level_of(request: web.Request, default: Level) -> Level:
    text = request.query.get("consistency")
    return default if text is None else Level.parse(text)


def session_of(request: web.Request) -> Session:
    """The client's session from its ``X-QKV-Session`` header (a fresh one if none);
    the response carries the token after the request in the same header."""
    text = request.headers.get(SESSION_HEADER)
    session = Session()
    if text:
        session.present(text)
    if request.query.get("receipt") in ("1", "true", "on"):
        session.receipts = []
    return session


def receipt_headers(session: Session) -> dict:
    """The session token, and the receipts when asked for (``?receipt=1``)."""
    headers = {SESSION_HEADER: session.encode()}
    if session.receipts is not None:
        headers[RECEIPT_HEADER] = json.dumps(session.receipts, separators=(",", ":"))
    return headers


def ttl_of(request: web.Request) -> int:
    """TTL seconds from the query, 0 if absent; a positive decimal integer if present."""
    text = request.query.get("ttl")
    if text is None:
        return 0
    # isdigit rejects '+5', ' 5' and '1_0', which int() would accept.
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_TTL_S:
        raise SyntaxError_(f"ttl must be an integer number of seconds in [1, {MAX_TTL_S}], "
                           f"got '{text[:64]}'")
    return int(text)


TRUE_WORDS = ("1", "true", "on")


def bound_of(request: web.Request, name: str) -> bytes:
    """A range bound from ``name`` (UTF-8) or ``name_b64`` (base64 of any bytes);
    absent: b"" (the keyspace's beginning or end)."""
    text, b64 = request.query.get(name), request.query.get(name + "_b64")
    if text is not None and b64 is not None:
        raise SyntaxError_(f"give {name} or {name}_b64, not both")
    if b64 is None:
        return (text or "").encode()
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise SyntaxError_(f"{name}_b64 is not base64") from None


def limit_of(request: web.Request) -> int:
    text = request.query.get("limit")
    return range_limit(None if text is None else text.encode())


def text_or_b64(name: str, data: bytes) -> dict:
    """``{name: text}`` when ``data`` is UTF-8, else ``{name_b64: base64}``."""
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {name + "_b64": base64.b64encode(data).decode()}


# ---- handlers ------------------------------------------------------------------------------

class _Handlers:
    def __init__(self, node, kv: KV) -> None:
        self.node = node
        self.kv = kv
        self.strong = _Strong(node, kv)

    async def get(self, request: web.Request) -> web.Response:
        keyspace, key = kv_target(request)
        if self.kv.is_strong(keyspace):
            return await self.strong.get(request, keyspace, key)
        level = level_of(request, self.kv.default_level(keyspace))
        session = session_of(request)
        version = await self.kv.get_live(keyspace, key, level, session)
        if version is None:
            response = error_response(404, "key not found")
            response.headers.update(receipt_headers(session))
            return response
        return web.Response(body=version.value, content_type="application/octet-stream",
                            headers={TIMESTAMP_HEADER: str(version.ts),
                                     **receipt_headers(session)})

    async def put(self, request: web.Request) -> web.Response:
        keyspace, key = kv_target(request)
        if self.kv.is_strong(keyspace):
            return await self.strong.put(request, keyspace, key)
        level = level_of(request, self.kv.default_level(keyspace))
        ttl = ttl_of(request)
        value = await request.read()
        expiry_ms = self.node.clock_ms() + ttl * 1000 if ttl else 0
        session = session_of(request)
        version = await self.kv.put(keyspace, key, value, level, expiry_ms, session)
        return web.json_response({"ok": True}, headers={TIMESTAMP_HEADER: str(version.ts),
                                                        **receipt_headers(session)})

    async def delete(self, request: web.Request) -> web.Response:
        keyspace, key = kv_target(request)
        if self.kv.is_strong(keyspace):
            return await self.strong.delete(request, keyspace, key)
        level = level_of(request, self.kv.default_level(keyspace))
        session = session_of(request)
        existed = await self.kv.delete_existing(keyspace, [key], level, session)
        return web.json_response({"deleted": bool(existed)},
                                 headers=receipt_headers(session))

    async def range_read(self, request: web.Request) -> web.Response:
        """``GET /v1/kv/{keyspace}?start=&end=&limit=&rev=``: one page of an ordered
        range read (api/resp/ranges.py) as ``{"items": [{key, value}...], "next"}``."""
        keyspace = request.match_info["keyspace"]
        if self.kv.is_strong(keyspace):
            raise UnsupportedError(f"range reads are not served on strong keyspaces yet "
                                   f"(keyspace '{keyspace}' is in strong mode)")
        level = level_of(request, self.kv.default_level(keyspace))
        page = await read_range(self.kv, keyspace, bound_of(request, "start"),
                                bound_of(request, "end"), limit_of(request), level,
                                request.query.get("rev") in TRUE_WORDS)
        items = [{**text_or_b64("key", key), **text_or_b64("value", version.value)}
                 for key, version in page.items]
        following = {"next": None} if page.resume is None else text_or_b64("next",
                                                                           page.resume)
        return web.json_response({"items": items, **following})

    async def cluster(self, request: web.Request) -> web.Response:
        return web.json_response(await self.node.cluster_status())

    async def ranges(self, request: web.Request) -> web.Response:
        """Every range's bounds, replicas, size and load (``quorumkv ranges``);
        ``keyspace`` narrows it, ``sort`` is load (default), size or range."""
        sort = request.query.get("sort", "load")
        if sort not in RANGE_SORTS:
            raise SyntaxError_(f"sort must be one of {', '.join(RANGE_SORTS)}, "
                               f"got '{sort[:32]}'")
        return web.json_response(await self.node.range_view(request.query.get("keyspace"),
                                                            sort))

    async def repair(self, request: web.Request) -> web.StreamResponse:
        """Anti-entropy now, for this node's ranges (``keyspace``, ``range`` narrow
        it): one JSON line per range done, then ``{"summary": ...}``."""
        keyspace = request.query.get("keyspace")
        if keyspace is not None:
            self.kv.keyspace(keyspace)  # UnknownKeyspaceError: 404
        range_text = request.query.get("range")
        # ASCII digits only (str.isdigit also takes '²', which int() refuses), and few
        # enough for int() (which refuses over 4300)
        if range_text is not None and not (range_text.isascii() and range_text.isdigit()
                                           and len(range_text) <= 18):
            raise SyntaxError_(f"range must be a range id, got '{range_text[:32]}'")
        range_id = int(range_text) if range_text is not None else None
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)

        async def progress(done: int, total: int, stats) -> None:
            line = {"done": done, "total": total, **stats.to_json()}
            await response.write(json.dumps(line).encode() + b"\n")

        stats = await self.node.anti_entropy.repair(keyspace, range_id, progress)
        await response.write(json.dumps({"summary": stats.to_json()}).encode() + b"\n")
        await response.write_eof()
        return response

    # ---- keyspaces, online (api/keyspaces.py) -----------------------------------

    async def keyspace_create(self, request: web.Request) -> web.Response:
        """``POST /v1/keyspaces`` with the spec as a JSON object: 201 and its
        description; 400 a bad setting; 409 the name exists."""
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError as exc:
            raise SyntaxError_(f"the body is not JSON: {exc}") from None
        spec = keyspaces.spec_of_fields(body)
        return web.json_response(await keyspaces.create(self.node, spec), status=201)

    async def keyspace_list(self, request: web.Request) -> web.Response:
        return web.json_response({"keyspaces": await keyspaces.list_all(self.node)})

    async def keyspace_describe(self, request: web.Request) -> web.Response:
        return web.json_response(await keyspaces.describe(self.node,
                                                          request.match_info["name"]))

    async def keyspace_drop(self, request: web.Request) -> web.Response:
        return web.json_response(await keyspaces.drop(self.node, request.match_info["name"]))

    async def node_remove(self, request: web.Request) -> web.Response:
        """``DELETE /v1/nodes/ID``: retire a dead node (api/nodes.py); 409 refused."""
        return web.json_response(await nodes.remove(self.node, request.match_info["node_id"]))

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "node_id": self.node.node_id})

    async def metrics(self, request: web.Request) -> web.Response:
        body = prometheus_client.generate_latest(self.node.metrics.registry)
        return web.Response(body=body,
                            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(text=OPENAPI_JSON, content_type="application/json")


# ---- strong keyspaces ------------------------------------------------------------------------

def version_of(request: web.Request) -> int | None:
    """``?if_version=V``: a version as GET and PUT report it (0: the key is absent)."""
    text = request.query.get("if_version")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > sc.INT64_MAX:
        raise SyntaxError_(f"if_version must be a version: an integer in [0, {sc.INT64_MAX}], "
                           f"got '{text[:64]}'")
    return int(text)


def absent_of(request: web.Request) -> bool:
    text = request.query.get("if_absent")
    if text is None or text in ("0", "false", "off"):
        return False
    if text in TRUE_WORDS:
        return True
    raise SyntaxError_(f"if_absent must be 1, true, on, 0, false or off, got '{text[:64]}'")


class _Strong:
    """GET / PUT / DELETE of one key of a strong keyspace: one core/strong command
    each, linearizable, the key's version in ``X-QuorumKV-Version`` (and the JSON
    body of PUT and DELETE). No consistency level, session or receipts: those are
    the eventual keyspaces'."""

    def __init__(self, node, kv: KV) -> None:
        self.node = node
        self.kv = kv

    async def _execute(self, request, keyspace: str, command):
        if "consistency" in request.query:
            raise SyntaxError_(f"keyspace '{keyspace}' is strong: every read and write is "
                               "linearizable, it takes no consistency level")
        reply = await self.kv.strong(keyspace).execute(command)
        if isinstance(reply, Error):
            raise RequestError(reply.message.removeprefix("ERR "))
        return reply

    async def get(self, request, keyspace: str, key: bytes) -> web.Response:
        self.kv.check_key(key)
        reply = await self._execute(request, keyspace, sc.Get(key))
        headers = {VERSION_HEADER: str(reply.version)}
        if not isinstance(reply, Bulk):
            return web.json_response({"error": "key not found", "version": 0},
                                     status=404, headers=headers)
        return web.Response(body=reply.value, content_type="application/octet-stream",
                            headers=headers)

    async def put(self, request, keyspace: str, key: bytes) -> web.Response:
        self.kv.check_key(key)
        if_version, if_absent = version_of(request), absent_of(request)
        if if_version is not None and if_absent:
            raise SyntaxError_("give if_version or if_absent, not both")
        ttl = ttl_of(request)
        value = await request.read()
        self.kv.check_value(value)
        write = sc.Set(key, value, self.node.clock_ms() + ttl * 1000 if ttl else 0)
        if if_version is None and not if_absent:
            reply = await self._execute(request, keyspace, write)
            return _versioned({"ok": True}, reply.version)
        # a conditional write: the Set applies only if the key's version is still it
        expected = 0 if if_absent else if_version
        reply = await self._execute(request, keyspace, sc.Txn((write,), ((key, expected),)))
        if isinstance(reply, Array):
            return _versioned({"ok": True}, reply.version)
        assert isinstance(reply, Nil), reply
        current = (await self._execute(request, keyspace, sc.Get(key))).version
        why = "the key exists" if if_absent else f"the key's version is not {if_version}"
        return _versioned({"error": f"not written: {why}", "version": current}, current,
                          status=409)

    async def delete(self, request, keyspace: str, key: bytes) -> web.Response:
        self.kv.check_key(key)
        reply = await self._execute(request, keyspace, sc.Delete((key,)))
        assert isinstance(reply, Int), reply
        return _versioned({"deleted": bool(reply.value)}, reply.version)


def _versioned(body: dict, version: int, status: int = 200) -> web.Response:
    body.setdefault("version", version)
    return web.json_response(body, status=status, headers={VERSION_HEADER: str(version)})


# ---- the OpenAPI document ------------------------------------------------------------------

def _json_body(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json_body(description, {"$ref": "#/components/schemas/Error"})


def _path_parameter(name: str, **extra) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
            **extra}


def _kv_parameters(with_ttl: bool) -> list[dict]:
    params = [
        _path_parameter("keyspace", example="default", description="A keyspace name "
                        "(QKV.KEYSPACES lists them); unknown: 404."),
        _path_parameter("key", description="Percent-encoded key bytes; may contain '/'."),
        {"name": "consistency", "in": "query", "required": False,
         "schema": {"type": "string", "enum": [level.name for level in Level]},
         "description": "Replica answers required (case-insensitive); default: "
                        "the keyspace's default_consistency. ANY is for writes only. "
                        "Eventual keyspaces only: a strong keyspace refuses it (400), its "
                        "reads and writes are linearizable."},
        {"name": SESSION_HEADER, "in": "header", "required": False,
         "schema": {"type": "string", "example": "1a21a887bfc0000.2"},
         "description": "A session token (`<timestamp hex>.<acks>`) from an earlier "
                        "response: reads then see what that session wrote or read "
                        "(docs/consistency.md)."},
        {"name": "receipt", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["1", "true", "on"]},
         "description": "Return the consistency receipts in the " + RECEIPT_HEADER
                        + " header."},
    ]
    if with_ttl:
        params.append({"name": "ttl", "in": "query", "required": False,
                       "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TTL_S},
                       "description": "Expire the key this many seconds from now."})
    return params


def _kv_errors() -> dict:
    return {"400": _error("Bad consistency level, ttl or request."),
            "404": _error("Key not found (GET) or unknown keyspace."),
            "413": _error("Key or value over the configured limit."),
            "503": _error("Too few replicas answered for the consistency level, or a "
                          "session read could not reach a version as new as its token."),
            "504": _error("Too few replicas answered before the request's deadline "
                          "(strong keyspaces: the range's Raft group did not answer; a "
                          "write may still apply).")}


def _timestamp_header() -> dict:
    return {TIMESTAMP_HEADER: {"description": "HLC timestamp of the version read or written.",
                               "schema": {"type": "integer"}},
            **_session_headers()}


def _session_headers() -> dict:
    return {SESSION_HEADER: {"description": "The session token after this request.",
                             "schema": {"type": "string"}},
            RECEIPT_HEADER: {"description": "With ?receipt=1: JSON list of receipts (which "
                                            "replicas answered, their versions, hints, read "
                                            "repairs).", "schema": {"type": "string"}}}


def _version_header() -> dict:
    return {VERSION_HEADER: {
        "description": "Strong keyspaces: the key's version after the request (the log "
                       "index of the write that last set it; 0: absent).",
        "schema": {"type": "integer", "minimum": 0}}}


def _put_conditions() -> list[dict]:
    return [
        {"name": "if_version", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
         "description": "Strong keyspaces: write only if the key's version (as GET's "
                        + VERSION_HEADER + " gave it) is this one; 0: only if absent. "
                        "Otherwise 409."},
        {"name": "if_absent", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["1", "true", "on", "0", "false", "off"]},
         "description": "Strong keyspaces: write only if the key is absent (a lock, a "
                        "lease with ttl). Otherwise 409. Not with if_version."}]


def _range_read_op() -> dict:
    bound = ("{} bound as UTF-8 text; absent or empty: the keyspace's {}. `{}_b64` "
             "gives any bytes as base64 instead.")
    item = {"type": "object", "properties": {
        name: {"type": "string"} for name in ("key", "value", "key_b64", "value_b64")}}
    return {
        "summary": "Ordered range read of a range keyspace: keys and values of "
                   "[start, end), merged across replicas like a read",
        "parameters": [
            _kv_parameters(False)[0],
            {"name": "start", "in": "query", "required": False,
             "schema": {"type": "string"},
             "description": bound.format("Inclusive lower", "beginning", "start")},
            {"name": "end", "in": "query", "required": False, "schema": {"type": "string"},
             "description": bound.format("Exclusive upper", "end", "end")},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}},
            {"name": "rev", "in": "query", "required": False,
             "schema": {"type": "string", "enum": list(TRUE_WORDS)},
             "description": "Keys descending from end; `next` is then the next end."},
            _kv_parameters(False)[2]],
        "responses": {
            "200": _json_body(
                "At most `limit` items in key order (descending with rev). Each has "
                "`key` and `value` as UTF-8 text, or `key_b64`/`value_b64` (base64) for "
                "bytes that are not UTF-8. `next` (or `next_b64`) is the start to pass "
                "again (with rev: the end), null when the read is done.",
                {"type": "object", "properties": {
                    "items": {"type": "array", "items": item},
                    "next": {"type": "string", "nullable": True},
                    "next_b64": {"type": "string"}}}),
            "400": _error("Bad start, end, limit or consistency, or a hash keyspace."),
            "404": _error("Unknown keyspace."),
            "503": _error("Too few replicas answered for the consistency level.")}}


def build_openapi() -> dict:
    kv_ops = {
        "get": {"summary": "Read a value (strong keyspaces: a linearizable read)",
                "parameters": _kv_parameters(False), "responses": {
            "200": {"description": "The value bytes.",
                    "headers": {**_timestamp_header(), **_version_header()},
                    "content": {"application/octet-stream": {"schema": {
                        "type": "string", "format": "binary"}}}},
            **_kv_errors()}},
        "put": {"summary": "Write a value (strong keyspaces: optionally on a condition)",
                "parameters": _kv_parameters(True) + _put_conditions(),
                "requestBody": {"required": True, "content": {"application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": {**_json_body("Written; strong keyspaces: `version` is "
                                                   "the key's new version.", {
                    "type": "object", "properties": {"ok": {"type": "boolean"},
                                                     "version": {"type": "integer"}}}),
                    "headers": {**_timestamp_header(), **_version_header()}},
                    "409": {**_json_body("Strong keyspaces: not written, the if_version "
                                         "or if_absent condition failed; `version` is the "
                                         "key's version read just after.", {
                        "type": "object", "properties": {"error": {"type": "string"},
                                                         "version": {"type": "integer"}}}),
                        "headers": _version_header()},
                    **_kv_errors()}},
        "delete": {"summary": "Delete a key", "parameters": _kv_parameters(False), "responses": {
            "200": {**_json_body("Deleted; `deleted` says whether the key existed "
                                 "(strong keyspaces: `version` 0).", {
                "type": "object", "properties": {"deleted": {"type": "boolean"},
                                                 "version": {"type": "integer"}}}),
                "headers": {**_session_headers(), **_version_header()}},
            **_kv_errors()}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "QuorumKV HTTP API", "version": "1"},
        "paths": {
            "/v1/kv/{keyspace}/{key}": kv_ops,
            "/v1/kv/{keyspace}": {"get": _range_read_op()},
            "/v1/cluster": {"get": {"summary": "Nodes and range map as this node sees them",
                                    "responses": {"200": _json_body("Cluster status.",
                                                                    {"type": "object"})}}},
            "/v1/ranges": {"get": {
                "summary": "Every range with its bounds, replicas, stored entries and "
                           "bytes (the fullest replica) and reads/s and writes/s over the "
                           "last minute (summed over the coordinating nodes)",
                "parameters": [
                    {"name": "keyspace", "in": "query", "required": False,
                     "schema": {"type": "string"}},
                    {"name": "sort", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": list(RANGE_SORTS)}}],
                "responses": {"200": _json_body("Ranges, hottest first by default.",
                                                {"type": "object"}),
                              "400": _json_body("Bad sort.", {"type": "object"}),
                              "404": _json_body("Unknown keyspace.", {"type": "object"})}}},
            "/v1/repair": {"post": {
                "summary": "Anti-entropy now for this node's ranges (Merkle trees against "
                           "each live peer replica)",
                "parameters": [
                    {"name": "keyspace", "in": "query", "required": False,
                     "schema": {"type": "string"}},
                    {"name": "range", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1}}],
                "responses": {
                    "200": {"description": "One JSON object per line: progress "
                                           "({done, total, ...}) after each range, then "
                                           "{summary: {ranges_compared, ranges_differing, "
                                           "keys_fetched, keys_pushed, keys_streamed, "
                                           "bytes_exchanged, errors}}.",
                            "content": {"application/x-ndjson": {
                                "schema": {"type": "string"}}}},
                    "400": _error("Bad range id."),
                    "404": _error("Unknown keyspace.")}}},
            "/v1/keyspaces": {
                "post": {"summary": "Create a keyspace (a metadata transaction)",
                         "requestBody": _json_body("The spec: name, mode, partitioner, "
                                                   "ranges or split_points, rf, ...",
                                                   {"type": "object"}),
                         "responses": {"201": _json_body("Its description.",
                                                         {"type": "object"}),
                                       "400": _error("Bad setting."),
                                       "409": _error("The name exists.")}},
                "get": {"summary": "Every keyspace", "responses": {"200": _json_body(
                    "{keyspaces: [...]}", {"type": "object"})}}},
            "/v1/keyspaces/{name}": {
                "parameters": [_path_parameter("name")],
                "get": {"summary": "Describe a keyspace: spec, ranges, notes",
                        "responses": {"200": _json_body("Its description.",
                                                        {"type": "object"}),
                                      "404": _error("Unknown keyspace.")}},
                "delete": {"summary": "Drop a keyspace and delete its data",
                           "responses": {"200": _json_body("{dropped, id}",
                                                           {"type": "object"}),
                                         "404": _error("Unknown keyspace.")}}},
            "/v1/nodes/{node_id}": {
                "parameters": [_path_parameter("node_id")],
                "delete": {"summary": "Retire a dead node from the cluster metadata",
                           "responses": {"200": _json_body("{removed, version}",
                                                           {"type": "object"}),
                                         "409": _error("Refused: up, unknown, or a "
                                                       "strong range would lose its "
                                                       "quorum.")}}},
            "/v1/health": {"get": {"summary": "Liveness", "responses": {"200": _json_body(
                "Up.", {"type": "object", "properties": {
                    "status": {"type": "string"}, "node_id": {"type": "string"}}})}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "Prometheus text format.",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {
                "200": _json_body("OpenAPI 3.0 document.", {"type": "object"})}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "properties": {"error": {"type": "string"}},
            "required": ["error"]}}},
    }


OPENAPI_JSON = json.dumps(build_openapi(), indent=2)
