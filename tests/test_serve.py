"""The REST service: routes, shapes, limits, errors, micro-batching, and the real CLI."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _cli import run_cli
from _serve_helpers import DictTagger, free_port
from serkit.errors import SerkitError
from serkit.serve.app import BodyLimitMiddleware, create_app
from serkit.serve.batching import MicroBatcher
from serkit.serve.limits import Limits
from serkit.serve.server import listen

SMALL = Limits(max_text_chars=100, max_request_chars=150, max_texts=3, max_body_bytes=2000)
TEXT = "I run 🐧 Redis on Linux with NVIDIA A100."


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(DictTagger(), SMALL), raise_server_exceptions=False) as c:
        yield c


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_one_text_gives_entities_with_code_point_offsets(client):
    r = client.post("/v1/entities", json={"text": TEXT})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == {"name": "dict-test", "version": "1.2.3", "serkit_version": "0.1.0"}
    assert body["entities"] == [
        {"start": 8, "end": 13, "label": "Application", "text": "Redis", "score": 0.9},
        {"start": 17, "end": 22, "label": "Operating_System", "text": "Linux", "score": 0.9},
        {"start": 28, "end": 39, "label": "Device", "text": "NVIDIA A100", "score": 0.9},
    ]
    for e in body["entities"]:
        assert TEXT[e["start"] : e["end"]] == e["text"]
    assert "results" not in body


def test_several_texts_in_order(client):
    texts = ["Python on Ubuntu", "", "nothing here", "TensorFlow"][:3]
    r = client.post("/v1/entities", json={"texts": texts})
    assert r.status_code == 200
    res = r.json()["results"]
    assert [[e["text"] for e in x["entities"]] for x in res] == [["Python", "Ubuntu"], [], []]
    assert client.post("/v1/entities", json={"texts": []}).json()["results"] == []
    assert client.post("/v1/entities", json={"text": ""}).json()["entities"] == []


def test_info_routes(client):
    labels = client.get("/v1/labels").json()
    assert labels["labels"][0] == "O" and "B-Library" in labels["labels"]
    assert labels["types"] == ["Application", "Device", "Language", "Library", "Operating_System"]
    card = client.get("/v1/model").json()
    assert card["arch"] == "dict" and card["info"]["name"] == "dict-test"
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["pending"] == health["pending_chars"] == 0
    assert client.get("/v1/limits").json() == SMALL.to_dict()
    spec = client.get("/openapi.json").json()
    assert {"/v1/entities", "/v1/labels", "/v1/model", "/healthz"} <= set(spec["paths"])
    assert {"413", "422"} <= set(spec["paths"]["/v1/entities"]["post"]["responses"])


def test_page_docs_and_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    for html in (page.text, docs.text):
        assert "http://" not in html.replace("http://www.w3.org", "")
        assert "https://" not in html and "//cdn" not in html
    for asset in ("/static/app.js", "/static/app.css", "/static-offline-docs/swagger-ui-bundle.js"):
        assert client.get(asset).status_code == 200, asset


def test_the_page_works_behind_a_proxy_under_a_path_prefix(client):
    """``location /ner/ { proxy_pass http://127.0.0.1:8080/; }``: every URL the page and its
    script use resolves under /ner/ (absolute ones went to the proxy's own root)."""
    import re
    from urllib.parse import urljoin

    page_url = "https://proxy.example/ner/"

    def through_proxy(ref: str, base: str) -> str:
        url = urljoin(base, ref)
        assert url.startswith(page_url), f"{ref!r} leaves the prefix: {url}"
        return "/" + url.removeprefix(page_url)

    html = client.get("/").text
    refs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert "static/app.js" in refs and "static/app.css" in refs
    for ref in refs:
        if not ref.startswith("data:"):
            assert client.get(through_proxy(ref, page_url)).status_code == 200, ref
    script = client.get("/static/app.js").text
    gets = re.findall(r'getJSON\("([^"]+)"\)', script)
    posts = re.findall(r'fetch\("([^"]+)", \{\s*method: "POST"', script)
    assert len(gets) == 3 and posts == ["v1/entities"]
    for ref in gets:  # fetch() resolves against the page, not the script
        assert client.get(through_proxy(ref, page_url)).status_code == 200, ref
    r = client.post(through_proxy(posts[0], page_url), json={"text": "Redis on Linux"})
    assert r.status_code == 200 and len(r.json()["entities"]) == 2


@pytest.mark.parametrize(
    ("path", "ctype"), [("/static/app.js", "text/javascript"), ("/static/app.css", "text/css")]
)
def test_the_pages_assets_are_revalidated_on_every_load(client, path, ctype):
    """Asset URLs carry no version: without ``no-cache`` a browser kept app.js by heuristic
    freshness after an upgrade, under the new page (which is ``no-cache``)."""
    assert client.get("/").headers["cache-control"] == "no-cache"
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
    assert r.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/static/", "/static", "/static/../app.py", "/static/%2e%2e/app.py"]
)
def test_static_lists_no_folder_and_leaves_it_by_no_path(client, path):
    r = client.get(path)
    assert_error(r, 404, "not_found")


def test_limits_are_413_with_codes(client):
    assert_error(client.post("/v1/entities", json={"text": "x" * 101}), 413, "text_too_long")
    client_ok = client.post("/v1/entities", json={"text": "🐧" * 100})  # code points, not bytes
    assert client_ok.status_code == 200
    assert_error(client.post("/v1/entities", json={"texts": ["a"] * 4}), 413, "too_many_texts")
    assert_error(
        client.post("/v1/entities", json={"texts": ["x" * 80, "y" * 80]}), 413, "request_too_long"
    )
    err = assert_error(
        client.post("/v1/entities", json={"text": "x" * 3000}), 413, "body_too_large"
    )
    assert "(limit 2,000)" in err["message"]


def test_streamed_body_over_the_limit_is_413(client):
    def chunks():  # no Content-Length: httpx sends it chunked
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    r = client.post("/v1/entities", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "body_too_large")


def test_content_length_over_the_limit_is_rejected_before_reading():
    sent = []

    async def app(scope, receive, send):  # never reached
        raise AssertionError("the app ran")

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    mw = BodyLimitMiddleware(app, max_bytes=1000)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/entities",
        "headers": [(b"content-length", b"20000000")],
    }
    asyncio.run(mw(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("content", "ctype", "code"),
    [
        (b'{"text": "x', "application/json", "invalid_json"),
        (b"not json", "application/json", "invalid_json"),
        (b"{}", "application/json", "invalid_request"),
        (b'{"text": "a", "texts": ["b"]}', "application/json", "invalid_request"),
        (b'{"text": 1}', "application/json", "invalid_request"),
        (b'{"texts": "abc"}', "application/json", "invalid_request"),
        (b'{"texts": [null]}', "application/json", "invalid_request"),
        (b'{"text": "a", "extra": 1}', "application/json", "invalid_request"),
        (b'["Redis"]', "application/json", "invalid_request"),
        (b'"Redis"', "application/json", "invalid_request"),
        (b"null", "application/json", "invalid_request"),
        (b'{"text": "lone \\ud800 surrogate"}', "application/json", "invalid_request"),
        (b'{"text": "\xff\xfe"}', "application/json", "invalid_json"),
        (b"", "application/json", "invalid_request"),
        (b'{"text": "a", "text": "b"}', "application/json", "invalid_json"),
        (b'{"texts": ["a"], "x": {"k": 1, "k": 2}}', "application/json", "invalid_json"),
        (b'{"text": NaN}', "application/json", "invalid_json"),
        (b'{"texts": [Infinity]}', "application/json", "invalid_json"),
        (b'{"text": "a", "scheme": -Infinity}', "application/json", "invalid_json"),
    ],
)
def test_bad_bodies_are_422(client, content, ctype, code):
    r = client.post("/v1/entities", content=content, headers={"content-type": ctype})
    assert_error(r, 422, code)


def test_deeply_nested_json_is_422_not_a_crash():
    with TestClient(create_app(DictTagger()), raise_server_exceptions=False) as c:
        deep = b"[" * 100_000 + b"]" * 100_000
        for body in (deep, b'{"text": ' + deep + b"}"):
            r = c.post("/v1/entities", content=body, headers={"content-type": "application/json"})
            assert_error(r, 422, "invalid_json")
        (ent,) = c.post("/v1/entities", json={"text": "a\x00b Linux"}).json()["entities"]
        assert ent["start"] == 4


def test_repeated_keys_and_non_finite_numbers_are_named():
    assert_msg = [
        (b'{"text": "a", "text": "b"}', 'the key "text" appears twice'),
        (b'{"text": NaN}', "NaN is not a JSON value"),
    ]
    with TestClient(create_app(DictTagger()), raise_server_exceptions=False) as c:
        for body, message in assert_msg:
            r = c.post("/v1/entities", content=body, headers={"content-type": "application/json"})
            assert message in assert_error(r, 422, "invalid_json")["message"]
        # Still JSON: a charset parameter and the +json suffix are fine.
        for ctype in ("application/json; charset=utf-8", "application/vnd.api+json"):
            r = c.post(
                "/v1/entities", content=b'{"text": "Redis"}', headers={"content-type": ctype}
            )
            assert r.status_code == 200 and r.json()["entities"][0]["text"] == "Redis"


def test_other_errors_have_the_same_shape(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/v1/entities"), 405, "method_not_allowed")
    assert_error(client.put("/v1/labels"), 405, "method_not_allowed")
    r = client.post(
        "/v1/entities",
        content=b"{}",
        headers={"content-length": "abc", "content-type": "application/json"},
    )
    assert_error(r, 400, "bad_request")


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=12,
)
FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the client is module-scoped: reused
_bodies = _json | st.fixed_dictionaries(
    {}, optional={"text": _json | st.text(max_size=120), "texts": _json | st.lists(st.text())}
)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(body=_bodies)
def test_no_json_body_is_a_server_error(client, body):
    r = client.post(  # json=None would send no body and no content type
        "/v1/entities", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert r.status_code in (200, 400, 413, 422), r.text
    if r.status_code == 200:
        assert set(r.json()) >= {"model"}
    else:
        assert set(r.json()["error"]) == {"code", "message"}


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(raw=st.binary(max_size=200))
def test_no_raw_body_is_a_server_error(client, raw):
    r = client.post("/v1/entities", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (200, 413, 422), r.text


def _post_concurrently(app, bodies: list[dict]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*(c.post("/v1/entities", json=b) for b in bodies))

    return asyncio.run(run())


def test_concurrent_requests_share_tagger_calls():
    tagger = DictTagger(delay=0.05)
    app = create_app(tagger, Limits(), max_wait_ms=20)
    try:
        texts = [f"request {i} uses Python on Linux" for i in range(12)]
        rs = _post_concurrently(app, [{"text": t} for t in texts])
        for r, t in zip(rs, texts, strict=True):
            assert r.status_code == 200
            ents = r.json()["entities"]
            assert [t[e["start"] : e["end"]] for e in ents] == ["Python", "Linux"]
        assert sum(tagger.pipe_calls) == 12
        assert len(tagger.pipe_calls) < 12 and max(tagger.pipe_calls) > 1
    finally:
        app.state.batcher.stop()


def test_inference_runs_off_the_event_loop():
    tagger = DictTagger(delay=3.0)
    app = create_app(tagger, Limits())

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            slow = asyncio.create_task(c.post("/v1/entities", json={"text": "Redis"}))
            while not tagger.pipe_calls:  # the worker thread has taken the request
                await asyncio.sleep(0.01)
            assert (await c.get("/healthz")).json()["status"] == "ok"
            assert not slow.done()  # answered while the model was still busy
            assert (await slow).status_code == 200

    try:
        asyncio.run(run())
    finally:
        app.state.batcher.stop()


def test_a_model_failure_is_one_500_and_the_service_lives_on():
    tagger = DictTagger(delay=0.05, fail_on="BOOM")
    app = create_app(tagger, Limits(), max_wait_ms=20)
    try:
        rs = _post_concurrently(
            app, [{"text": "Redis here"}, {"text": "BOOM"}, {"texts": ["Linux", "Python"]}]
        )
        assert [r.status_code for r in rs] == [200, 500, 200]
        assert_error(rs[1], 500, "internal_error")
        assert rs[0].json()["entities"][0]["text"] == "Redis"
        assert len(rs[2].json()["results"]) == 2
        (r,) = _post_concurrently(app, [{"text": "Ubuntu"}])
        assert r.json()["entities"][0]["label"] == "Operating_System"
    finally:
        app.state.batcher.stop()


def test_batcher_rejects_when_overloaded():
    from serkit.serve.batching import Overloaded

    tagger = DictTagger(delay=0.5)
    b = MicroBatcher(tagger, max_pending=1)

    async def two() -> None:
        first = asyncio.create_task(b.submit(["Redis"]))
        await asyncio.sleep(0)  # the first request is in the queue
        with pytest.raises(Overloaded):
            await b.submit(["Linux"])
        assert (await first)[0][0].text == "Redis"

    try:
        asyncio.run(two())
    finally:
        b.stop()
    assert asyncio.run(MicroBatcher(DictTagger()).submit([])) == []


def test_a_hand_edited_card_with_odd_types_still_serves():
    tagger = DictTagger()
    tagger.card = {**tagger.card, "name": ["x"], "version": 2, "runtime": 5}
    with TestClient(create_app(tagger), raise_server_exceptions=False) as c:
        info = c.get("/healthz").json()["model"]
        assert (info["name"], info["version"], info["runtime"]) == ("['x']", "2", "5")
        assert c.post("/v1/entities", json={"text": "Redis"}).status_code == 200


@pytest.mark.parametrize(("size", "error"), [(0, ValueError), (-2, ValueError), ("8", TypeError)])
def test_a_bad_batch_size_fails_at_start_not_as_a_500_per_request(size, error):
    with pytest.raises(error, match="batch_size must be"):
        create_app(DictTagger(), SMALL, batch_size=size)


def test_limits_validate():
    with pytest.raises(ValueError, match="max_texts"):
        Limits(max_texts=0)


def test_tiny_onnx_model_through_the_service(tiny_dirs):
    import serkit

    tagger = serkit.load(tiny_dirs["int8"], threads=1)
    texts = ["I installed tensorflow on ubuntu with pip.", "Python 🐍 runs on linux and windows."]
    with TestClient(create_app(tagger)) as c:
        body = c.post("/v1/entities", json={"texts": texts}).json()
        single = c.post("/v1/entities", json={"text": texts[0]}).json()
    assert body["model"]["name"] == "int8" and body["model"]["runtime"] == "onnx-int8"
    for text, res in zip(texts, body["results"], strict=True):
        assert res["entities"] == [e.to_dict() for e in tagger(text)]
        for e in res["entities"]:
            assert text[e["start"] : e["end"]] == e["text"]
    assert single["entities"] == body["results"][0]["entities"]
    assert any(r["entities"] for r in body["results"])


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serkit serve exited: {proc.stdout.read()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("serkit serve did not come up")


def test_cli_serves_and_rejects_a_20mb_body_by_content_length(tiny_dirs):
    """The real command, with its options: limits and connection timeouts."""
    port = free_port()
    exe = Path(sys.executable).with_name("serkit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "serkit"]
    proc = subprocess.Popen(
        [
            *cmd,
            "serve",
            "--model",
            str(tiny_dirs["int8"]),
            "--port",
            str(port),
            "--threads",
            "1",
            "--max-texts",
            "5",
            "--header-timeout",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/healthz", proc)
        r = httpx.post(base + "/v1/entities", json={"text": "tensorflow on ubuntu"})
        assert r.status_code == 200
        for e in r.json()["entities"]:
            assert "tensorflow on ubuntu"[e["start"] : e["end"]] == e["text"]
        assert httpx.get(base + "/v1/limits").json()["max_texts"] == 5
        # Announce 20 MB and send only the headers: the answer must come without the body.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.putrequest("POST", "/v1/entities")
        conn.putheader("content-type", "application/json")
        conn.putheader("content-length", str(20 * 1024 * 1024))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413
        assert json.loads(resp.read())["error"]["code"] == "body_too_large"
        conn.close()
        # Headers that never end: the connection is closed after --header-timeout.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 408 ")
        assert httpx.get(base + "/healthz").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_port_in_use_is_one_line_and_exit_2_before_the_model_loads(
    capsys, tiny_dirs, monkeypatch
):
    """A second server on a port: one error line, at once (uvicorn logged the error after
    loading the model and starting the app, and exited with 3)."""
    import serkit.models.registry as registry

    loads = []
    real = registry.load_tagger
    monkeypatch.setattr(registry, "load_tagger", lambda *a, **k: loads.append(a) or real(*a, **k))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code, out = run_cli(capsys, "serve", "--model", str(tiny_dirs["int8"]), "--port", str(port))
    assert code == 2
    assert out == f"serkit: error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert loads == []
    code, out = run_cli(capsys, "serve", "--host", "no-such-host.invalid", "--port", "0")
    assert code == 2
    assert out.startswith("serkit: error: cannot listen on no-such-host.invalid:0: unknown host")
    assert out.count("\n") == 1 and loads == []


def test_listen_binds_every_address_of_a_host_on_one_port():
    socks = listen("localhost", 0)
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1 and 0 not in ports
        with socket.create_connection(("localhost", ports.pop()), timeout=5):
            pass  # listening already: a client waits for the model instead of being refused
    finally:
        for s in socks:
            s.close()
    if socket.has_ipv6:
        try:
            socks = listen("[::1]", 0)  # as in a URL
        except SerkitError:
            pass  # no IPv6 loopback here
        else:
            assert [s.family for s in socks] == [socket.AF_INET6]
            for s in socks:
                s.close()
