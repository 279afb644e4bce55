"""The retriever service on a local Ray: index a tiny world, serve it, query it over HTTP.

Results must equal the offline evaluation's rankings for the same queries; every bad input
gets its 4xx with a JSON error naming the field, and good requests keep working after them.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from vdgray.serve.cli import stop

pytestmark = pytest.mark.integration



def _post(url, path, body=None, content=None):
    if content is not None:
        return httpx.post(url + path, content=content, timeout=60,
                          headers={"content-type": "application/json"})
    return httpx.post(url + path, json=body, timeout=60)


def test_index_covers_the_split_and_reuses_the_eval_cache(served):
    split = served["split"]
    assert served["index"]["vectors"] == len(split.gallery_names)
    assert served["index"]["kind"] == "flat"
    assert served["eval"]["cache_hit"] is True  # the index stage embedded it first


def test_search_by_id_matches_offline_rankings(served):
    url, split = served["url"], served["split"]
    k = len(split.gallery_names) - 1
    for row in served["rankings"]:
        q = split.query(row["pairid"])
        r = _post(url, "/search", {"image_id": q.reference, "text": q.caption, "k": k})
        assert r.status_code == 200, r.text
        got = [h["image_id"] for h in r.json()["results"]]
        assert got == row["top50"][:k]
        scores = [h["score"] for h in r.json()["results"]]
        assert scores == sorted(scores, reverse=True)


def test_batch_and_base64_queries_match_offline_rankings(served):
    url, split = served["url"], served["split"]
    rows = served["rankings"][:3]
    queries = []
    for row in rows:
        q = split.query(row["pairid"])
        image = base64.b64encode(split.read_image(q.reference)).decode()
        queries.append({"image": image, "text": q.caption, "k": 5})
    r = _post(url, "/search/batch", {"queries": queries})
    assert r.status_code == 200, r.text
    responses = r.json()["responses"]
    assert len(responses) == len(rows)
    for row, resp in zip(rows, responses, strict=True):
        # a sent image has no id, so its own gallery copy may rank among the results
        got = [h["image_id"] for h in resp["results"] if h["image_id"] != row["reference"]]
        assert got == row["top50"][:len(got)] and len(got) >= 4


def test_root_and_health_describe_the_service(served):
    url = served["url"]
    doc = httpx.get(url + "/", timeout=30).json()
    assert "POST /search" in doc["endpoints"] and doc["limits"]["max_k"] == 20
    health = httpx.get(url + "/healthz", timeout=30).json()
    assert health["status"] == "ok" and health["vectors"] == len(served["split"].gallery_names)


def test_the_search_page_gallery_and_thumbnails_are_served(served):
    """GET /ui is the static page; /gallery pages through the indexed ids; /images/{id}
    answers a JPEG that fits ?size=, with caching headers, 304 on a matching ETag."""
    url, split = served["url"], served["split"]
    page = httpx.get(url + "/ui", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="results"' in page.text and "http" not in page.text.replace("http-equiv", "")
    first = httpx.get(url + "/gallery", params={"offset": 0, "limit": 4}, timeout=30).json()
    rest = httpx.get(url + "/gallery", params={"offset": 4, "limit": 200}, timeout=30).json()
    assert first["total"] == len(split.gallery_names) == len(first["image_ids"] + rest["image_ids"])
    assert sorted(first["image_ids"] + rest["image_ids"]) == sorted(split.gallery_names)
    image_id = first["image_ids"][0]
    r = httpx.get(f"{url}/images/{image_id}", params={"size": 24}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    thumb = Image.open(io.BytesIO(r.content))
    full = Image.open(io.BytesIO(split.read_image(image_id)))
    assert max(thumb.size) == 24 or thumb.size == full.size  # never scaled up
    again = httpx.get(f"{url}/images/{image_id}", params={"size": 24}, timeout=30,
                      headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path,status,field", [
    ("/images/no-such-image", 404, "image_id"),
    ("/images/{id}?size=0", 400, "size"),
    ("/images/{id}?size=5000", 400, "size"),
    ("/images/{id}?size=big", 422, "size"),
    ("/gallery?limit=0", 400, "limit"),
    ("/gallery?offset=-1", 400, "offset"),
    ("/gallery?limit=many", 422, "limit"),
])
def test_bad_page_requests_get_their_4xx_naming_the_field(served, path, status, field):
    path = path.replace("{id}", served["split"].gallery_names[0])
    r = httpx.get(served["url"] + path, timeout=30)
    assert r.status_code == status, r.text
    assert field in r.json()["error"] and r.json().get("field") == field


def _bad_requests(split, max_bytes: int) -> list[tuple[str, str, dict | None, bytes | None, int, str]]:
    """(name, path, json body, raw body, expected status, field named in the error)."""
    ref = split.queries[0].reference
    png = split.read_image(ref)
    big = base64.b64encode((png * (max_bytes // len(png) + 2))[:max_bytes + 1000]).decode()
    huge = base64.b64encode(png * (4 * max_bytes // len(png))).decode()
    garbage = base64.b64encode(b"this is not an image at all").decode()
    buf = io.BytesIO()  # 12,000 x 12,000 = 144 megapixels in ~18 KB of PNG
    Image.new("1", (12_000, 12_000)).save(buf, "PNG")
    many_pixels = base64.b64encode(buf.getvalue()).decode()
    good = {"image_id": ref, "text": "make it blue"}
    return [
        ("malformed json", "/search", None, b'{"image_id": "x", "text": ', 400, "body"),
        ("not an object", "/search", None, b'[1, 2, 3]', 422, ""),
        ("missing text", "/search", {"image_id": ref}, None, 422, "text"),
        ("unknown field", "/search", {**good, "colour": "red"}, None, 422, "colour"),
        ("undecodable image", "/search", {"image": garbage, "text": "x"}, None, 400, "image"),
        ("invalid base64", "/search", {"image": "%%%not base64%%%", "text": "x"}, None, 400,
         "image"),
        ("oversize image", "/search", {"image": big, "text": "x"}, None, 413, "image"),
        ("oversize body", "/search", {"image": huge, "text": "x"}, None, 413, "body"),
        ("unknown image_id", "/search", {"image_id": "no-such-image", "text": "x"}, None, 404,
         "image_id"),
        ("image and image_id", "/search", {**good, "image": garbage}, None, 400, "image"),
        ("empty text", "/search", {**good, "text": "   "}, None, 400, "text"),
        ("overlong text", "/search", {**good, "text": "a" * 201}, None, 400, "text"),
        ("k zero", "/search", {**good, "k": 0}, None, 400, "k"),
        ("k too large", "/search", {**good, "k": 21}, None, 400, "k"),
        ("k not a number", "/search", {**good, "k": "many"}, None, 422, "k"),
        ("empty batch", "/search/batch", {"queries": []}, None, 400, "queries"),
        ("batch too long", "/search/batch", {"queries": [good] * 5}, None, 400, "queries"),
        ("bad query in batch", "/search/batch", {"queries": [good, {**good, "k": 99}]}, None,
         400, "queries.1.k"),
        ("unknown id in batch", "/search/batch",
         {"queries": [good, {"image_id": "nope", "text": "x"}]}, None, 404, "queries.1.image_id"),
        ("NUL and lone surrogate in text", "/search", None,  # JSON escapes: \u0000\ud800
         json.dumps({**good, "text": "\u0000\ud800 make it red"}).encode(), 400, "text"),
        ("control character in text", "/search", {**good, "text": "make it\x1b red"}, None,
         400, "text"),
        ("body nested 30,000 deep", "/search", None, b"[" * 30_000 + b"]" * 30_000, 400,
         "body"),
        ("body nested past the limit", "/search", {**good, "k": [[[[[[[[[[1]]]]]]]]]]}, None,
         400, "body"),
        ("144-megapixel image", "/search", {"image": many_pixels, "text": "x"}, None, 413,
         "image"),
    ]


def test_every_bad_input_gets_its_4xx_and_good_requests_keep_working(served):
    url, split = served["url"], served["split"]
    good = {"image_id": split.queries[0].reference, "text": split.queries[0].caption, "k": 3}
    for name, path, body, raw, status, field in _bad_requests(split, served["cfg"].max_image_bytes):
        r = _post(url, path, body, raw)
        assert r.status_code == status, f"{name}: {r.status_code} {r.text}"
        err = r.json()
        assert isinstance(err.get("error"), str) and err["error"], name
        assert field in err["error"], f"{name}: {err}"
        ok = _post(url, "/search", good)
        assert ok.status_code == 200 and len(ok.json()["results"]) == 3, name


def test_under_mixed_load_good_requests_all_succeed_and_nothing_is_a_5xx(served):
    """400 requests from 16 threads, one in four bad: every good one 200, no 5xx at all."""
    from concurrent.futures import ThreadPoolExecutor

    url, split = served["url"], served["split"]
    bad = _bad_requests(split, served["cfg"].max_image_bytes)
    good = {"image_id": split.queries[0].reference, "text": split.queries[0].caption, "k": 3}

    def one(i):
        if i % 4 == 3:
            _, path, body, raw, status, _ = bad[(i // 4) % len(bad)]
            return status, _post(url, path, body, raw).status_code
        return 200, _post(url, "/search", good).status_code

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, range(400)))
    assert [g for g in got if g[1] >= 500] == []
    assert all(code == want for want, code in got), [g for g in got if g[0] != g[1]][:5]


def test_new_index_rolls_out_without_dropping_requests(served, tmp_path):
    """Redeploy with another index_uri while a client keeps querying: every answer is a 200."""
    import threading

    from ray import serve

    from vdgray.bench.serve import pad_index
    from vdgray.serve.app import build_app

    url, split = served["url"], served["split"]
    n_old = len(split.gallery_names)
    new_index = str(tmp_path / "index-v2")
    pad_index(served["cfg"].index_uri, new_index, n_old + 25)
    good = {"image_id": split.queries[0].reference, "text": split.queries[0].caption, "k": 3}
    statuses: list[int] = []
    done = threading.Event()

    def client():
        with httpx.Client(timeout=120) as c:
            while not done.is_set():
                statuses.append(c.post(url + "/search", json=good).status_code)

    t = threading.Thread(target=client)
    t.start()
    try:
        while len(statuses) < 3:
            done.wait(0.1)
        cfg = served["cfg"].model_copy(update={"index_uri": new_index})
        serve.run(build_app(cfg), name=cfg.app_name, route_prefix="/")
        seen = len(statuses)
        while len(statuses) < seen + 3:  # and a few more once the new replica answers
            done.wait(0.1)
    finally:
        done.set()
        t.join()
    assert statuses and set(statuses) == {200}, statuses
    assert httpx.get(url + "/healthz", timeout=30).json()["vectors"] == n_old + 25


def test_demo_serve_check_reports_the_offline_ranks(served):
    """The demo's check (its own Serve on a free port) finds each target where eval did."""
    from vdgray.stages.serve_check import ServeCheckConfig
    from vdgray.stages.serve_check import run as serve_check

    stop()  # the check starts and stops its own service
    cfg = served["cfg"]
    res = serve_check(ServeCheckConfig(model=cfg.model_uri, index=cfg.index_uri,
                                       world=served["world"], queries=3, k=5, num_cpus=0.5))
    offline = {r["pairid"]: r["top50"] for r in served["rankings"]}
    assert res["queries"] == 3
    for r in res["results"]:
        rank = offline[r["pairid"]].index(r["target"]) + 1
        assert r["target_rank"] == (rank if rank <= 5 else None), r
    assert res["hits"] == sum(r["target_rank"] is not None for r in res["results"])
