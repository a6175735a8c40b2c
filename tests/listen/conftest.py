"""Fixtures of the listening-test tests: a MUSHRA and an AB package (`listen_helpers`, made once
per session), and the served test around one: `listen_test(package)` -> a `ServedTest`
(TestClient, package, store, admin token) with its own database."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from listen_helpers import SCORES, auth, make_ab_package, make_mushra_package

from voxflow.listen.app import create_app
from voxflow.listen.package import TestPackage, read_package
from voxflow.listen.pages import Listener, conditions
from voxflow.listen.store import Store, open_store

@pytest.fixture(scope="session")
def mushra_package(tmp_path_factory) -> Path:
    return make_mushra_package(tmp_path_factory.mktemp("mushra"))


@pytest.fixture(scope="session")
def ab_package(tmp_path_factory) -> Path:
    return make_ab_package(tmp_path_factory.mktemp("ab"))


@dataclass
class ServedTest:
    client: TestClient
    package: TestPackage
    store: Store
    admin_token: str

    def start(self, name: str = "listener", **fields) -> str:
        """A new listener's token."""
        response = self.client.post("/api/listeners", json={"name": name, "consent": True,
                                                             **fields})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def listener(self, token: str) -> Listener:
        return self.store.listener(token)

    def session(self, token: str) -> dict:
        return self.client.get("/api/session", headers=auth(token)).json()

    def post(self, token: str, page_id: str, body):
        return self.client.post(f"/api/pages/{page_id}", json=body, headers=auth(token))

    def answer(self, token: str, page: dict, scores=SCORES, choice: str = "1"):
        """Post what a listener who hears the systems answers on `page` (MUSHRA: `scores` of
        the stimulus behind each letter; AB: `choice`)."""
        if page["kind"] == "training":
            body = {}
        elif page["kind"] == "mushra":
            keys = conditions(self.package, self.listener(token), page["id"])
            body = {"ratings": {key: scores[stimulus] for key, stimulus in keys.items()}}
        else:
            body = {"choice": choice}
        response = self.post(token, page["id"], body)
        assert response.status_code == 200, response.text
        return response.json()

    def finish(self, token: str, **answer) -> dict:
        """Answer every page left; returns the final session."""
        session = self.session(token)
        while session["page"] is not None:
            session = self.answer(token, session["page"], **answer)
        return session


@pytest.fixture
def listen_test(tmp_path):
    """`listen_test(package_dir)` -> a ServedTest with a fresh database in tmp_path."""
    def serve(package_dir: Path) -> ServedTest:
        package = read_package(package_dir)
        store, admin_token = open_store(package, tmp_path / "listen.sqlite")
        return ServedTest(TestClient(create_app(package, store, admin_token)), package, store,
                          admin_token)

    return serve
