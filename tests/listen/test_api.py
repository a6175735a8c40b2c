"""The HTTP API: validation, isolation, resume, tokens, path safety, concurrent listeners."""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from listen_helpers import SCORES, auth

from voxflow.listen.app import create_app
from voxflow.listen.pages import conditions
from voxflow.listen.store import open_store


@pytest.fixture
def mushra(listen_test, mushra_package):
    return listen_test(mushra_package)


@pytest.fixture
def ab(listen_test, ab_package):
    return listen_test(ab_package)


def first_rated_page(served, token: str) -> dict:
    """The session's page after the training page."""
    return served.answer(token, served.session(token)["page"])["page"]


def stored(served) -> list:
    return served.store.answers().to_dict("records")


@pytest.mark.parametrize("body, message", [
    ({"name": "a", "consent": False}, "consent"),
    ({"name": "a"}, "missing field(s) consent"),
    ({"name": "a", "consent": True, "admin": True}, "unknown field(s) admin"),
    ({"name": " \n ", "consent": True}, "a listener id of 1 to 100 characters"),
    ({"name": "a" * 101, "consent": True}, "a listener id of 1 to 100 characters"),
    ({"name": "a", "consent": True, "groups": [{}]}, "groups: a non-empty list of en-us, fr"),
    ({"name": "a", "consent": True, "groups": ["de"]}, "groups: a non-empty list"),
    ({"name": "a", "consent": True, "groups": []}, "groups: a non-empty list"),
])
def test_a_bad_start_is_422_and_adds_no_listener(ab, body, message):
    response = ab.client.post("/api/listeners", json=body)
    assert response.status_code == 422 and message in response.json()["error"]
    with sqlite3.connect(ab.store.path) as connection:
        assert connection.execute("SELECT count(*) FROM listeners").fetchone() == (0,)


def test_a_listener_name_is_kept_on_one_line(mushra):
    token = mushra.start("  ann\nlee  ")
    assert mushra.session(token)["listener"] == "ann lee"


def with_a(score):
    return lambda good: {"ratings": {**good["ratings"], "A": score}}


# what breaks a good answer {"ratings": {every letter: 50}}, and the message that says so
BAD_MUSHRA_POSTS = {
    "not an object": (lambda good: [1, 2], "must be a JSON object"),
    "unknown field": (lambda good: {**good, "time": 3}, "unknown field(s) time"),
    "no ratings": (lambda good: {}, "missing field(s) ratings"),
    "unknown condition": (lambda good: {"ratings": {**good["ratings"], "Z": 50}},
                          "no condition Z"),
    "missing condition": (lambda good: {"ratings": {k: v for k, v in good["ratings"].items()
                                                    if k != "A"}},
                          "no rating for condition(s) A"),
    "above 100": (with_a(101), "101 is not an integer from 0 to 100"),
    "negative": (with_a(-1), "-1 is not an integer"),
    "fraction": (with_a(50.5), "50.5 is not an integer"),
    "boolean": (with_a(True), "True is not an integer"),
    "string": (with_a("50"), "'50' is not an integer"),
}


@pytest.mark.parametrize("case", BAD_MUSHRA_POSTS)
def test_a_bad_mushra_post_is_422_and_changes_nothing(mushra, case):
    token = mushra.start()
    page = first_rated_page(mushra, token)
    good = {"ratings": {c["key"]: 50 for c in page["conditions"]}}
    change, message = BAD_MUSHRA_POSTS[case]
    before = stored(mushra)
    response = mushra.post(token, page["id"], change(good))
    assert response.status_code == 422 and message in response.json()["error"]
    assert stored(mushra) == before and mushra.session(token)["page"]["id"] == page["id"]


@pytest.mark.parametrize("body, message", [({"choice": "3"}, "'3' is not one of 1, 2, neutral"),
                                           ({"choice": 1}, "1 is not one of"),
                                           ({"choice": "1", "x": 0}, "unknown field(s) x")])
def test_a_bad_ab_post_is_422_and_changes_nothing(ab, body, message):
    token = ab.start()
    response = ab.post(token, ab.session(token)["page"]["id"], body)
    assert response.status_code == 422 and message in response.json()["error"]
    assert stored(ab) == [] and ab.session(token)["done"] == 0


def test_the_training_page_takes_no_ratings(mushra):
    token = mushra.start()
    response = mushra.post(token, "training", {"ratings": {"A": 1}})
    assert response.status_code == 422 and mushra.session(token)["done"] == 0


def test_a_body_that_is_not_json_is_400(mushra):
    token = mushra.start()
    response = mushra.client.post("/api/pages/training", content=b"{ratings",
                                  headers=auth(token))
    assert response.status_code == 400 and response.json() == {"error": "the body is not JSON"}


def test_an_oversized_body_is_413(mushra):
    token = mushra.start()
    response = mushra.client.post("/api/pages/training", content=b" " * 100_000,
                                  headers=auth(token))
    assert response.status_code == 413


def test_an_unknown_page_is_404(mushra):
    token = mushra.start()
    assert mushra.post(token, "trial99", {}).status_code == 404


def test_a_page_of_a_group_not_chosen_is_404(ab):
    token = ab.start(groups=["fr"])
    en_us = next(t.id for t in ab.package.trials.values() if t.group == "en-us")
    assert ab.post(token, en_us, {"choice": "1"}).status_code == 404


def test_a_submitted_page_is_final(mushra):
    token = mushra.start()
    page = first_rated_page(mushra, token)
    mushra.answer(token, page)
    before = stored(mushra)
    again = mushra.post(token, page["id"], {"ratings": {c["key"]: 0 for c in page["conditions"]}})
    assert again.status_code == 409 and "submitted before" in again.json()["error"]
    assert stored(mushra) == before


def test_concurrent_reposts_of_a_page_store_it_once(ab):
    token = ab.start()
    page_id = ab.session(token)["page"]["id"]
    barrier = threading.Barrier(8)

    def post(choice):
        barrier.wait()
        return ab.post(token, page_id, {"choice": choice}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(post, ["1", "2"] * 4))
    assert statuses == [200] + [409] * 7 and len(stored(ab)) == 1


def test_requests_without_a_valid_token_are_401(mushra):
    mushra.start()
    assert mushra.client.get("/api/session").status_code == 401
    assert mushra.client.get("/api/session", headers=auth("forged")).status_code == 401
    assert mushra.client.get("/api/audio/training/A").status_code == 401


def test_a_listener_cannot_touch_another_listeners_ratings(mushra):
    alice, bob = mushra.start("alice"), mushra.start("bob")
    mushra.finish(alice)
    alice_ratings = stored(mushra)
    mushra.finish(bob, scores={stimulus: 5 for stimulus in SCORES})
    rows = stored(mushra)
    assert [r for r in rows if r["listener_name"] == "alice"] == alice_ratings
    assert {r["value"] for r in rows if r["listener_name"] == "bob"} == {"5"}


def test_a_listener_sees_only_their_own_progress(mushra):
    alice, bob = mushra.start("alice"), mushra.start("bob")
    mushra.finish(alice)
    assert (mushra.session(bob)["listener"], mushra.session(bob)["done"]) == ("bob", 0)


def test_results_need_the_admin_token(mushra):
    listener = mushra.start()
    assert mushra.client.get("/api/admin/results").status_code == 401
    assert mushra.client.get("/api/admin/results", headers=auth(listener)).status_code == 403
    response = mushra.client.get("/api/admin/results", headers=auth(mushra.admin_token))
    assert response.status_code == 200 and response.text.startswith("session_test_id,")


def test_a_restarted_server_resumes_at_the_first_page_not_submitted(mushra):
    token = mushra.start()
    page = first_rated_page(mushra, token)
    mushra.answer(token, page)
    store, admin_token = open_store(mushra.package, mushra.store.path)
    restarted = TestClient(create_app(mushra.package, store, admin_token))
    session = restarted.get("/api/session", headers=auth(token)).json()
    assert session["done"] == 2 and session["page"]["id"] not in ("training", page["id"])


def test_audio_is_the_stimulus_behind_the_letter(mushra):
    token = mushra.start()
    keys = conditions(mushra.package, mushra.listener(token), "trial2")
    response = mushra.client.get("/api/audio/trial2/B", headers=auth(token))
    path = mushra.package.trials["trial2"].stimuli[keys["B"]]
    assert response.status_code == 200 and response.content == path.read_bytes()


@pytest.mark.parametrize("url", ["/api/audio/trial1/../../configs/vocoder.yaml",
                                 "/api/audio/trial1/..%2F..%2Fvocoder_items.csv",
                                 "/api/audio/%2e%2e/%2e%2e%2fvocoder_items.csv",
                                 "/static/../package.py", "/static/%2e%2e/package.py",
                                 "/static/..%2Fpackage.py", "/vocoder_items.csv",
                                 "/configs/vocoder.yaml"])
def test_no_path_leads_out_of_the_served_files(mushra, url):
    token = mushra.start()
    response = mushra.client.get(url, headers=auth(token))
    assert response.status_code == 404
    assert b"trial_id" not in response.content and b"import" not in response.content


def test_every_response_forbids_other_origins(mushra):
    assert mushra.client.get("/").headers["content-security-policy"] == "default-src 'self'"


def test_concurrent_listeners_each_store_every_page_once(mushra):
    def take_test(number):
        token = mushra.start(f"listener{number}")
        return mushra.finish(token)["done"]

    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(take_test, range(12)))
    rows = mushra.store.answers()
    assert done == [4] * 12
    assert len(rows) == 12 * 3 * 6
    assert not rows.duplicated(["listener", "page_id", "name"]).any()
