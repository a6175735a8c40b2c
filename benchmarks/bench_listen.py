"""Load check of `voxflow listen serve`: many simulated listeners taking a MUSHRA test at once
against the real server on the loopback interface; no rating may be lost or duplicated.

    .venv/bin/python benchmarks/bench_listen.py [--listeners 50] [--items 4] [--out FILE]

The package is made by `voxflow.evaluation.mushra.export_test` from tiny synthetic WAVs (the
tests' helper `tests/listen_helpers.py`), served by `python -m voxflow listen serve` in its own
process on a free port of 127.0.0.1. Every listener is a thread with its own HTTP connection;
all start together (a barrier) and each: starts (POST /api/listeners), then per page fetches
the page's audio (the reference and every condition, as the browser does) and posts the
page's ratings (random integer scores), and at the end posts its last page again, which must be
refused (409). Then the admin export (GET /api/admin/results) must hold, per listener and trial,
exactly the scores that were posted (as multisets: the client does not know which stimulus is
behind a letter), and nothing else. Requests are bounded (listeners x pages x conditions) and
so is the time (--deadline).

Figures: requests/s over the whole run, latency percentiles per request kind, rating counts.
Raw figures: benchmarks/results/listen.json.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from listen_helpers import auth, make_mushra_package  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(port: int, server: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/test")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not come up in time")


class Listener(threading.Thread):
    """One simulated listener with its own connection; records (kind, status, seconds)."""

    def __init__(self, number: int, port: int, barrier: threading.Barrier):
        super().__init__(daemon=True)
        self.name = f"listener{number:02d}"
        self.port, self.barrier = port, barrier
        self.rng = random.Random(number)
        self.requests: list[tuple[str, int, float]] = []
        self.posted: dict[str, list[int]] = {}     # trial -> the scores posted
        self.error: Exception | None = None

    def call(self, kind: str, method: str, path: str, body=None, token=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        headers.update(auth(token) if token else {})
        start = time.perf_counter()
        self.connection.request(method, path, json.dumps(body) if body is not None else None,
                                headers)
        response = self.connection.getresponse()
        data = response.read()
        self.requests.append((kind, response.status, time.perf_counter() - start))
        return response.status, data

    def run(self) -> None:
        try:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.barrier.wait()
            status, data = self.call("start", "POST", "/api/listeners",
                                     {"name": self.name, "consent": True})
            assert status == 201, data
            session = json.loads(data)
            token, last = session["token"], None
            while session["page"] is not None:
                page = session["page"]
                for audio in [page["reference"], *(c["audio"] for c in page["conditions"])]:
                    assert self.call("audio", "GET", audio, token=token)[0] == 200
                body = {}
                if page["kind"] == "mushra":
                    body = {"ratings": {c["key"]: self.rng.randint(0, 100)
                                        for c in page["conditions"]}}
                    self.posted[page["id"]] = sorted(body["ratings"].values())
                status, data = self.call("post", "POST", f"/api/pages/{page['id']}", body, token)
                assert status == 200, data
                session, last = json.loads(data), (page["id"], body)
            status, _ = self.call("repost", "POST", f"/api/pages/{last[0]}", last[1], token)
            assert status == 409, f"a repost got {status}"
        except Exception as err:  # reported by the main thread
            self.error = err


def check_export(port: int, admin_token: str, listeners: list[Listener]) -> dict:
    """The admin export against what the listeners posted."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/api/admin/results", headers=auth(admin_token))
    rows = list(csv.DictReader(io.StringIO(connection.getresponse().read().decode())))
    exported: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in rows:
        exported[row["email"], row["trial_id"]].append(int(row["rating_score"]))
    posted = {(listener.name, trial): scores for listener in listeners
              for trial, scores in listener.posted.items()}
    keys = Counter((row["email"], row["trial_id"], row["rating_stimulus"]) for row in rows)
    return {"ratings_posted": sum(len(s) for s in posted.values()),
            "ratings_exported": len(rows),
            "duplicated": sum(n - 1 for n in keys.values() if n > 1),
            "pages_lost_or_changed": sum(sorted(exported.get(k, [])) != v
                                         for k, v in posted.items()),
            "pages_unexpected": len(set(exported) - set(posted))}


def latency_table(listeners: list[Listener]) -> dict:
    by_kind = defaultdict(list)
    for listener in listeners:
        for kind, _, seconds in listener.requests:
            by_kind[kind].append(seconds * 1000)
    return {kind: {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
                   "p90_ms": float(np.percentile(ms, 90)), "p99_ms": float(np.percentile(ms, 99)),
                   "max_ms": float(max(ms))} for kind, ms in by_kind.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=50)
    parser.add_argument("--items", type=int, default=4, help="rated pages per listener")
    parser.add_argument("--deadline", type=float, default=300, help="seconds for the whole run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/listen.json")
    args = parser.parse_args()
    deadline = time.monotonic() + args.deadline
    with tempfile.TemporaryDirectory() as tmp:
        package = make_mushra_package(Path(tmp), items=[f"item{i}" for i in range(args.items)])
        port, db = free_port(), Path(tmp) / "listen.sqlite"
        server = subprocess.Popen(
            [sys.executable, "-m", "voxflow", "listen", "serve", str(package), "--port",
             str(port), "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(port, server, deadline)
            with sqlite3.connect(db) as connection:
                admin_token = connection.execute(
                    "SELECT value FROM meta WHERE key = 'admin_token'").fetchone()[0]
            barrier = threading.Barrier(args.listeners)
            listeners = [Listener(n, port, barrier) for n in range(args.listeners)]
            start = time.perf_counter()
            for listener in listeners:
                listener.start()
            for listener in listeners:
                listener.join(max(0.0, deadline - time.monotonic()))
            wall = time.perf_counter() - start
            stuck = [listener.name for listener in listeners if listener.is_alive()]
            failed = {listener.name: repr(listener.error) for listener in listeners
                      if listener.error}
            if stuck or failed:
                raise RuntimeError(f"listeners stuck: {stuck}; failed: {failed}")
            counts = check_export(port, admin_token, listeners)
        finally:
            server.terminate()
            server.wait(30)
    requests = sum(len(listener.requests) for listener in listeners)
    result = {"date": date.today().isoformat(), "listeners": args.listeners,
              "rated_pages_per_listener": args.items, "conditions_per_page": 6,
              "requests": requests, "wall_s": wall, "requests_per_s": requests / wall,
              "latency": latency_table(listeners), **counts}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    lost = counts["pages_lost_or_changed"] + counts["duplicated"] + counts["pages_unexpected"]
    if lost or counts["ratings_exported"] != counts["ratings_posted"]:
        sys.exit("FAILED: ratings lost, changed or duplicated")


if __name__ == "__main__":
    main()
