"""SQLite storage of one listening test: its listeners and the pages they submitted.

Tables:
    meta       key -> value: test_id, kind, package (the package's fingerprint), admin_token
    listeners  id, uuid (public, the results' session id), token_sha256, name, groups (JSON),
               seed (their orders, see `voxflow.listen.pages`), started_at
    pages      (listener, page_id) -> submitted_at
    answers    (listener, page_id, name) -> value: a MUSHRA page's score per stimulus, an AB
               page's choice

A page and its answers are written in one transaction: all of it is stored or none, so a closed
tab or a crashed server loses at most the page being rated. (listener, page_id) is the key of
`pages`, so a second submission of a page fails inside its transaction and changes nothing,
however many requests race. WAL journal with synchronous FULL: a committed page survives a crash
of the machine, and readers do not wait for writers. Each call opens its own connection, so the
store is safe from any thread.

Listener tokens are kept only as SHA-256 hashes. The admin token is kept as it is, so that a
restarted server can print it again: whoever can read this file holds the ratings anyway.
A database belongs to one package: `open_store` refuses one whose package changed since (other
audio would make the stored ratings meaningless).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from voxflow.listen.package import TestPackage
from voxflow.listen.pages import Listener

DB_NAME = "listen.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS listeners (
    id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, token_sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL, groups TEXT NOT NULL, seed INTEGER NOT NULL, started_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    listener INTEGER NOT NULL REFERENCES listeners(id), page_id TEXT NOT NULL,
    submitted_at REAL NOT NULL, PRIMARY KEY (listener, page_id));
CREATE TABLE IF NOT EXISTS answers (
    listener INTEGER NOT NULL, page_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (listener, page_id, name),
    FOREIGN KEY (listener, page_id) REFERENCES pages(listener, page_id));
"""


class AlreadySubmitted(Exception):
    """The listener submitted this page before; nothing was changed."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # autocommit mode: transactions are explicit (`_transaction`)
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def bind(self, package: TestPackage) -> str:
        """Tie a new database to `package`, or check that it is the package it was tied to;
        returns the admin token (made on first use)."""
        fingerprint = package.fingerprint()
        with self._transaction() as connection:
            meta = dict(connection.execute("SELECT key, value FROM meta"))
            if not meta:
                meta = {"test_id": package.test_id, "kind": package.kind,
                        "package": fingerprint, "admin_token": secrets.token_urlsafe(32)}
                connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        if meta["package"] != fingerprint or meta["test_id"] != package.test_id:
            raise ValueError(f"{self.path}: holds the ratings of test {meta['test_id']} as it "
                             f"was when they were given, and {package.root} differs from it "
                             "(other audio or configuration): pass another --db, or move this "
                             "database away")
        return meta["admin_token"]

    def add_listener(self, name: str, groups: tuple[str, ...]) -> tuple[Listener, str]:
        """A new listener and their token (random, 256 bits; only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        row = (uuid.uuid4().hex, token_hash(token), name, json.dumps(list(groups)),
               secrets.randbits(62), time.time())
        with self._transaction() as connection:
            listener_id = connection.execute(
                "INSERT INTO listeners (uuid, token_sha256, name, groups, seed, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", row).lastrowid
        return Listener(listener_id, row[0], name, row[4], groups), token

    def listener(self, token: str) -> Listener | None:
        """The listener whose token this is, or None."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT id, uuid, name, seed, groups FROM listeners WHERE token_sha256 = ?",
                (token_hash(token),)).fetchone()
        if row is None:
            return None
        return Listener(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])))

    def submitted(self, listener: Listener) -> set[str]:
        """The ids of the pages `listener` submitted."""
        with self._connect() as connection:
            return {page for (page,) in connection.execute(
                "SELECT page_id FROM pages WHERE listener = ?", (listener.id,))}

    def submit(self, listener: Listener, page_id: str, answers: dict[str, str]) -> None:
        """Store a page and its answers in one transaction; AlreadySubmitted if it was."""
        with self._transaction() as connection:
            try:
                connection.execute("INSERT INTO pages VALUES (?, ?, ?)",
                                   (listener.id, page_id, time.time()))
            except sqlite3.IntegrityError:
                raise AlreadySubmitted(page_id) from None
            connection.executemany("INSERT INTO answers VALUES (?, ?, ?, ?)",
                                   [(listener.id, page_id, k, v) for k, v in answers.items()])

    def answers(self) -> pd.DataFrame:
        """Every stored answer: listener (uuid), listener_name, page_id, submitted_at (Unix
        time), seconds (since the listener's previous page or start: the time on the page),
        name, value; in order of listeners, then of submission."""
        with self._connect() as connection:
            return pd.read_sql_query(
                "WITH timed AS (SELECT listener, page_id, submitted_at, LAG(submitted_at) OVER "
                "(PARTITION BY listener ORDER BY submitted_at) AS previous_at FROM pages) "
                "SELECT l.uuid AS listener, l.name AS listener_name, a.page_id, t.submitted_at, "
                "t.submitted_at - COALESCE(t.previous_at, l.started_at) AS seconds, a.name, "
                "a.value FROM answers a JOIN timed t USING (listener, page_id) "
                "JOIN listeners l ON l.id = a.listener "
                "ORDER BY l.id, t.submitted_at, a.name", connection)


def open_store(package: TestPackage, db: Path | None = None, create: bool = True
               ) -> tuple[Store, str]:
    """(the store of `package` at `db`, default <package>/listen.sqlite; its admin token).
    With `create` False, a missing database is an error (there is nothing to export)."""
    path = Path(db) if db is not None else package.root / DB_NAME
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder for the ratings database")
    if not create and not path.is_file():
        raise FileNotFoundError(f"{path}: no ratings database (serve the test first, or pass "
                                "--db)")
    store = Store(path)
    return store, store.bind(package)
