"""The service under hostile or unlucky clients (issue 14, items 13-15).

Fair batching (a small request is not stuck behind big ones, abandoned requests cost
nothing, ``/healthz`` shows the real queue), connection limits against slow clients
(raw sockets against a real uvicorn started as ``serkit serve`` starts it), and HTTP
conformance (JSON errors from the protocol layer, HEAD, no slash redirects, strict JSON,
415 before any work, security headers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from _serve_helpers import DictTagger, LiveServer
from serkit.serve.app import create_app
from serkit.serve.batching import text_pieces
from serkit.serve.limits import ConnectionLimits, Limits
from serkit.serve.middleware import JSONOnlyMiddleware

SMALL_TEXT = "Redis on Linux"


def big_text(job: int, sentences: int = 130) -> str:
    """About 6,000 characters of sentences that name their job (to see what was computed)."""
    return " ".join(f"Sentence {k} of job {job} uses Python on Ubuntu." for k in range(sentences))


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def computed_jobs(tagger: DictTagger) -> set[int]:
    """Jobs of ``big_text`` any of whose text went into the model."""
    found = set()
    for call in tagger.pipe_texts:
        for text in call:
            found.update(int(m) for m in re.findall(r"of job (\d+) ", text))
    return found


# ------------------------------------------------------------------ 13: fair batching


class SentenceTagger(DictTagger):
    """Every sentence is one entity: the entities show how a text was split."""

    def predict_words(self, batch):
        return [(["B-Library"] + ["I-Library"] * (len(w) - 1), [0.5] * len(w)) for w in batch]


_WORDS = st.sampled_from(
    ["Redis", "runs", "on", "Linux", ".", "!", "?", "...", "e.g.", "1.", "J.", "Smith", '"',
     ")", "(", "-", "•", "Node.js", "v2.0", "lower", "Upper", "。", "漢字", "'s", ":", "Inc"]
)  # fmt: skip
_SEPS = st.sampled_from([" ", " ", " ", "", "\n", "\n\n", "  ", "\t"])


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.tuples(_WORDS, _SEPS), max_size=60), limit=st.integers(1, 80))
def test_pieces_split_into_the_sentences_of_the_whole_text(parts, limit):
    text = "".join(w + s for w, s in parts)
    tagger = SentenceTagger()
    pieces = text_pieces(text, limit)
    assert "".join(p for _, p in pieces) == text
    assert all(text[off : off + len(p)] == p for off, p in pieces)
    tagged = []
    for (off, piece), ents in zip(pieces, tagger.pipe([p for _, p in pieces]), strict=True):
        tagged += [(e.start + off, e.end + off, e.text) for e in ents]
        if len(piece) > limit:  # only when no sentence inside it starts after a space
            assert all(not piece[e.start - 1].isspace() for e in ents[1:])
    assert tagged == [(e.start, e.end, e.text) for e in tagger(text)]


def test_a_long_text_is_cut_into_capped_pieces():
    text = big_text(0)
    pieces = text_pieces(text, 2048)
    assert len(pieces) == len(text) // 2048 + 1
    assert all(len(p) <= 2048 and p.startswith("Sentence ") for _, p in pieces)


def test_a_small_request_is_not_stuck_behind_big_ones():
    tagger = DictTagger(delay=0.02)
    app = create_app(tagger, Limits(max_pending=500))
    batcher = app.state.batcher

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
            bigs = [
                asyncio.create_task(c.post("/v1/entities", json={"text": big_text(i)}))
                for i in range(100)
            ]
            while batcher.pending < 100 and not tagger.pipe_calls:
                await asyncio.sleep(0.005)
            while not tagger.pipe_calls:  # the model is busy with the first big one
                await asyncio.sleep(0.005)
            health = (await c.get("/healthz")).json()
            assert health["pending"] >= 95
            assert health["pending_chars"] >= 95 * len(big_text(0))
            calls_before = len(tagger.pipe_texts)
            r = await c.post("/v1/entities", json={"text": SMALL_TEXT})
            assert [e["text"] for e in r.json()["entities"]] == ["Redis", "Linux"]
            # The model computed at most the call in progress and the small one's own call.
            ours = next(i for i, call in enumerate(tagger.pipe_texts) if SMALL_TEXT in call)
            during = tagger.pipe_texts[max(calls_before - 1, 0) : ours + 1]
            assert sum(len(t) for call in during for t in call) <= 2 * 2048 + len(SMALL_TEXT)
            assert (await c.get("/healthz")).json()["pending"] >= 90
            # Clients that give up (here: cancelled requests) leave the queue at once.
            for task in bigs:
                task.cancel()
            await asyncio.gather(*bigs, return_exceptions=True)
            await asyncio.sleep(0.2)
            health = (await c.get("/healthz")).json()
            assert health["pending"] == health["pending_chars"] == 0
            calls = len(tagger.pipe_calls)
            await asyncio.sleep(0.3)
            assert len(tagger.pipe_calls) == calls  # nothing of theirs is computed later
            assert len(computed_jobs(tagger)) <= 15

    try:
        asyncio.run(run())
    finally:
        batcher.stop()


def test_big_requests_keep_their_results_and_order():
    """Pieces of a long text come back together, offsets into the whole text."""
    tagger = DictTagger()
    app = create_app(tagger, Limits(), max_batch_chars=300)
    texts = [big_text(1, 40), "Python", big_text(2, 25)]
    with TestClient(app) as c:
        got = c.post("/v1/entities", json={"texts": texts}).json()["results"]
    for text, res in zip(texts, got, strict=True):
        assert [(e["start"], e["end"], e["label"]) for e in res["entities"]] == [
            (e.start, e.end, e.label) for e in DictTagger()(text)
        ]
        assert all(text[e["start"] : e["end"]] == e["text"] for e in res["entities"])
    assert max(sum(map(len, call)) for call in tagger.pipe_texts) <= 300
    assert len(tagger.pipe_calls) > 10  # the big texts really were cut


def test_work_of_clients_that_hung_up_is_not_computed():
    tagger = DictTagger(delay=0.05)
    app = create_app(tagger, Limits())
    batcher = app.state.batcher
    with LiveServer(app) as server:
        socks = []
        for i in range(30):
            body = json.dumps({"text": big_text(i)}).encode()
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(
                b"POST /v1/entities HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            socks.append(sock)
        wait_until(lambda: batcher.pending + len(computed_jobs(tagger)) >= 30)
        for sock in socks:
            sock.close()
        wait_until(lambda: batcher.pending == 0)
        r = httpx.post(server.url + "/v1/entities", json={"text": SMALL_TEXT}, timeout=30)
        assert r.status_code == 200
        assert len(computed_jobs(tagger)) <= 3  # the ones in the model when they hung up


# ------------------------------------------------------------------ 14: timeouts


def read_all(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """Everything until the server closes the connection (fails after ``timeout``)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def json_error(data: bytes, status: int, code: str) -> str:
    got, headers, body = parse(data)
    assert got == status, data
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert int(headers["content-length"]) == len(body)
    err = json.loads(body)["error"]
    assert err["code"] == code
    return err["message"]


@pytest.fixture(scope="module")
def strict_server():
    tagger = DictTagger(delay=0.4)
    limits = ConnectionLimits(header_timeout=1, body_timeout=1, keep_alive=5)
    with LiveServer(create_app(tagger, Limits(), connection=limits)) as server:
        yield server


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def test_slow_headers_are_cut_off_and_others_still_served(strict_server):
    socks = [connect(strict_server) for _ in range(40)]
    for sock in socks:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")  # and never the blank line
    assert httpx.get(strict_server.url + "/healthz", timeout=30).status_code == 200
    t0 = time.monotonic()
    for sock in socks:
        message = json_error(read_all(sock), 408, "request_timeout")
        assert "within 1 s" in message
        sock.close()
    assert time.monotonic() - t0 < 10


def test_a_trickle_of_header_bytes_does_not_keep_a_connection():
    with LiveServer(create_app(DictTagger(), connection=ConnectionLimits(header_timeout=0.6))) as s:
        sock = connect(s)
        closed = threading.Event()

        def trickle() -> None:
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: " + b"a" * 1000:
                    sock.send(bytes([byte]))
                    time.sleep(0.02)
            except OSError:
                closed.set()

        t0 = time.monotonic()
        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        data = read_all(sock)
        assert time.monotonic() - t0 < 10  # the trickle would last 20 s and more
        json_error(data, 408, "request_timeout")
        thread.join(60)
        sock.close()


def test_an_idle_connection_is_closed_without_a_word(strict_server):
    sock = connect(strict_server)
    t0 = time.monotonic()
    assert read_all(sock) == b""
    assert time.monotonic() - t0 < 10
    sock.close()


def test_a_body_shorter_than_its_content_length_is_a_408(strict_server):
    sock = connect(strict_server)
    sock.sendall(
        b"POST /v1/entities HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b'content-length: 100\r\n\r\n{"text": "Redis'
    )
    t0 = time.monotonic()
    message = json_error(read_all(sock), 408, "request_timeout")
    assert "body" in message and "(15 bytes came)" in message
    assert time.monotonic() - t0 < 10
    sock.close()


def test_the_next_request_on_a_kept_alive_connection_has_a_deadline_too(strict_server):
    sock = connect(strict_server)
    sock.sendall(b"GET /v1/limits HTTP/1.1\r\nhost: t\r\n\r\n")
    sock.settimeout(30)
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")  # uvicorn's keep-alive timer stops
    json_error(read_all(sock), 408, "request_timeout")
    sock.close()


def test_slow_answers_and_pipelined_requests_are_not_cut_off(strict_server):
    """The deadline is for the client's headers, not for the model (0.4 s a call here)."""
    body = json.dumps({"text": SMALL_TEXT}).encode()
    post = (
        b"POST /v1/entities HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    sock = connect(strict_server)
    sock.sendall(b"GET /v1/limits HTTP/1.1\r\nhost: t\r\n\r\n" + post + post[:-1])
    time.sleep(0.1)
    sock.sendall(post[-1:] + b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    data = read_all(sock, timeout=20)
    assert data.count(b"HTTP/1.1 200 OK") == 4, data
    assert data.count(b'"Redis"') == 2
    sock.close()


def test_connections_over_the_cap_get_a_503_and_are_closed():
    limits = ConnectionLimits(max_connections=3, header_timeout=30)
    with LiveServer(create_app(DictTagger(), connection=limits)) as s:
        held = [connect(s) for _ in range(3)]
        time.sleep(0.2)
        extra = connect(s)
        message = json_error(read_all(extra), 503, "overloaded")
        assert "3 connections" in message
        for sock in (*held, extra):
            sock.close()
        wait_until(lambda: httpx.get(s.url + "/healthz", timeout=30).status_code == 200)


def test_connection_limits_validate():
    for bad in ({"header_timeout": 0}, {"body_timeout": float("nan")}, {"max_connections": 1.5}):
        with pytest.raises(ValueError):
            ConnectionLimits(**bad)


# ------------------------------------------------------------------ 15: conformance


@pytest.fixture(scope="module")
def server():
    with LiveServer(create_app(DictTagger())) as s:
        yield s


def test_an_invalid_content_length_gets_the_json_error(server):
    for value in (b"abc", b"-1", b"1, 2"):
        sock = connect(server)
        sock.sendall(
            b"POST /v1/entities HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
            b"content-length: " + value + b"\r\n\r\n{}"
        )
        assert "Content-Length" in json_error(read_all(sock), 400, "bad_request")
        sock.close()


def test_oversized_headers_get_the_json_error(server):
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: " + b"a" * 70_000)
    time.sleep(0.2)  # h11 refuses an incomplete head over 16 KiB
    with contextlib.suppress(OSError):  # the server may have closed already
        sock.sendall(b"\r\n\r\n")
    json_error(read_all(sock), 431, "headers_too_large")
    sock.close()


@pytest.mark.parametrize("path", ["/", "/healthz", "/v1/labels", "/static/app.js"])
def test_head_is_get_without_a_body(server, path):
    get = httpx.get(server.url + path, timeout=30)
    sock = connect(server)
    sock.sendall(b"HEAD %s HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n" % path.encode())
    status, headers, body = parse(read_all(sock))
    sock.close()
    assert status == 200 and body == b""
    assert headers["content-type"] == get.headers["content-type"]
    if path != "/healthz":  # the queue counts may differ between the two
        assert int(headers["content-length"]) == len(get.content)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/healthz", "GET, HEAD"),
        ("POST", "/", "GET, HEAD"),
        ("PUT", "/v1/labels", "GET, HEAD"),
        ("OPTIONS", "/v1/entities", "POST"),
        ("GET", "/v1/entities", "POST"),
    ],
)
def test_a_405_allows_head_wherever_get_is(server, method, path, allow):
    """RFC 9110: ``Allow`` lists what the resource supports; it said ``GET`` alone."""
    r = httpx.request(method, server.url + path, timeout=30)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == allow


def test_trailing_slashes_are_404_not_redirects(server):
    for path in ("/v1/entities/", "/healthz/", "/v1/labels/"):
        r = httpx.post(server.url + path, json={"text": "x"}, follow_redirects=False, timeout=30)
        assert r.status_code == 404 and "location" not in r.headers
        assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("ctype", "shows"),
    [
        (None, "no content type"),
        ("text/plain", "content-type text/plain"),
        ("application/x-www-form-urlencoded", "curl's default for -d"),
        ("multipart/form-data; boundary=x", "content-type multipart/form-data"),
        ("application/jsonx", "content-type application/jsonx"),
    ],
)
def test_a_body_not_sent_as_json_is_415_before_any_work(ctype, shows):
    tagger = DictTagger()
    headers = {} if ctype is None else {"content-type": ctype}
    with TestClient(create_app(tagger), raise_server_exceptions=False) as c:
        r = c.post("/v1/entities", content=b'{"text": "Redis"}', headers=headers)
    assert r.status_code == 415 and r.headers["connection"] == "close"
    err = r.json()["error"]
    assert err["code"] == "unsupported_media_type"
    assert "-H 'content-type: application/json'" in err["message"] and shows in err["message"]
    assert tagger.pipe_calls == []


def test_no_body_at_all_is_the_schemas_422():
    with TestClient(create_app(DictTagger()), raise_server_exceptions=False) as c:
        r = c.post("/v1/entities")
    assert r.status_code == 422 and r.json()["error"]["message"] == "body: Field required"


def test_the_415_is_decided_without_reading_the_body():
    sent = []

    async def app(scope, receive, send):
        raise AssertionError("the app ran")

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    mw = JSONOnlyMiddleware(app, paths=frozenset({"/v1/entities"}))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/entities",
        "headers": [(b"content-length", b"17")],
    }
    asyncio.run(mw(scope, receive, send))
    assert sent[0]["status"] == 415


def _inline_script_hashes(html: str) -> set[str]:
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in re.findall(r"<script>(.*?)</script>", html, re.S)
    }


def test_every_response_says_nosniff_and_has_a_csp():
    tagger = DictTagger(fail_on="BOOM")
    app = create_app(tagger, Limits(max_text_chars=10))
    with TestClient(app, raise_server_exceptions=False) as c:
        answers = {
            "page": c.get("/"),
            "docs": c.get("/docs"),
            "asset": c.get("/static/app.js"),
            "docs asset": c.get("/static-offline-docs/swagger-ui.css"),
            "openapi": c.get("/openapi.json"),
            "json": c.get("/v1/labels"),
            "404": c.get("/nope"),
            "405": c.get("/v1/entities"),
            "413": c.post("/v1/entities", json={"text": "x" * 11}),
            "415": c.post("/v1/entities", content=b"{}"),
            "422": c.post("/v1/entities", json={}),
            "500": c.post("/v1/entities", json={"text": "BOOM"}),
            "head": c.head("/"),
        }
    assert answers["500"].status_code == 500
    for name, r in answers.items():
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], name
    page_csp = answers["page"].headers["content-security-policy"]
    assert "script-src 'self';" in page_csp and "unsafe" not in page_csp
    assert answers["head"].headers["content-security-policy"] == page_csp
    for name in ("asset", "json", "404", "500"):
        assert answers[name].headers["content-security-policy"].startswith("default-src 'none'")
    # Swagger UI: its own inline configuration script, and no other, may run.
    docs = answers["docs"]
    hashes = _inline_script_hashes(docs.text)
    script_src = re.search(r"script-src ([^;]*)", docs.headers["content-security-policy"])[1]
    assert hashes and set(script_src.split()) == {"'self'", *hashes}


def test_one_text_over_the_limit_is_named_in_words():
    with TestClient(create_app(DictTagger()), raise_server_exceptions=False) as c:
        r = c.post("/v1/entities", json={"text": "x" * 21_000})
        assert r.json()["error"]["message"] == "text has 21,000 characters (limit 20,000)"
        r = c.post("/v1/entities", json={"texts": ["a", "x" * 21_000]})
        assert r.json()["error"]["message"] == "text 1 has 21,000 characters (limit 20,000)"


class SchemeTagger(DictTagger):
    """Answers in scheme "os-only" with the operating systems alone."""

    scheme = None

    @property
    def schemes(self):
        return ["os-only", "all"]

    def use_scheme(self, scheme):
        self.scheme = scheme

    def predict_words(self, batch):
        out = super().predict_words(batch)
        if self.scheme == "os-only":
            out = [([t if "Operating" in t else "O" for t in tags], s) for tags, s in out]
        return out


def test_scheme_is_checked_against_the_models_schemes():
    with TestClient(create_app(DictTagger()), raise_server_exceptions=False) as c:
        r = c.post("/v1/entities", json={"text": "Redis", "scheme": "wikiser"})
        assert r.status_code == 400
        assert r.json()["error"] == {
            "code": "unknown_scheme",
            "message": 'unknown scheme "wikiser" (known: none)',
        }
        assert c.post("/v1/entities", json={"text": "Redis", "scheme": None}).status_code == 200
    app = create_app(SchemeTagger(delay=0.05), max_wait_ms=50)
    r = TestClient(app).post("/v1/entities", json={"texts": ["Redis"], "scheme": "conll"})
    assert r.json()["error"]["message"] == 'unknown scheme "conll" (known: os-only, all)'
    # Requests in different schemes at once: each answered in its own.
    bodies = [{"text": SMALL_TEXT, "scheme": s} for s in ("os-only", None, "os-only", "all")]

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*(c.post("/v1/entities", json=b) for b in bodies))

    try:
        rs = asyncio.run(run())
    finally:
        app.state.batcher.stop()
    got = [[e["text"] for e in r.json()["entities"]] for r in rs]
    assert got == [["Linux"], ["Redis", "Linux"], ["Linux"], ["Redis", "Linux"]]
