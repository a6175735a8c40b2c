"""The HTTP side of a listening test: a FastAPI app over one package and its store, and `serve`.

Routes (JSON in and out; an error is {"error": message} with a 4xx status, and changes nothing):
    GET  /                            the test's page (static/index.html); /static/* its files
    GET  /api/test                    the test as every listener sees it: kind, texts, groups
    POST /api/listeners               start: {"name", "consent": true[, "groups"]} -> 201, the
                                      listener's token and session
    GET  /api/session                 the listener's progress and next page (null when done)
    POST /api/pages/{page_id}         a page's answer -> the session; 409 when that page was
                                      submitted before: answers are final (a listener does not
                                      revise a page after hearing later ones)
    GET  /api/audio/{page_id}/{key}   a page's audio by the key the page gave
    GET  /api/admin/results           the results CSV (`voxflow.listen.export`), admin only

Tokens travel as `Authorization: Bearer <token>`, never in URLs or cookies (no cross-site
request can carry them). The browser keeps its listener token in localStorage, which is how a
closed tab resumes. A listener token opens that listener's own pages only, the admin token the
results only. Every response carries a Content-Security-Policy allowing this server alone, so no
page of the test loads anything from elsewhere.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from voxflow.listen.export import RESULTS_FILES, results_table
from voxflow.listen.package import TestPackage, read_package
from voxflow.listen.pages import (CONSENT, AnswerError, Listener, audio_file, page_ids,
                                  page_view, parse_answer, parse_start)
from voxflow.listen.store import AlreadySubmitted, Store, open_store

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 64 * 1024      # a page's answer is a few hundred bytes
HEADERS = {"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}
CHALLENGE = {"WWW-Authenticate": "Bearer"}     # of every 401 (RFC 6750)


def create_app(package: TestPackage, store: Store, admin_token: str) -> FastAPI:
    app = FastAPI(title=package.title, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def listener_of(request: Request) -> Listener:
        listener = store.listener(_bearer(request))
        if listener is None:
            raise HTTPException(401, "unknown listener token: start the test again at /",
                                headers=CHALLENGE)
        return listener

    def session(listener: Listener) -> dict:
        pages, done = page_ids(package, listener), store.submitted(listener)
        next_page = next((p for p in pages if p not in done), None)
        return {"listener": listener.name, "done": len(done & set(pages)), "total": len(pages),
                "page": None if next_page is None else page_view(package, listener, next_page)}

    def own_page(listener: Listener, page_id: str) -> None:
        if page_id not in page_ids(package, listener):
            raise HTTPException(404, f"no page {page_id!r} in this listener's test")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/test")
    def test() -> dict:
        return {"kind": package.kind, "test_id": package.test_id, "title": package.title,
                "welcome": package.welcome, "finish": package.finish, "consent": CONSENT,
                "groups": package.groups}

    @app.post("/api/listeners", status_code=201)
    async def start(request: Request) -> dict:
        body = await _json(request)

        def add() -> dict:
            try:
                name, groups = parse_start(package, body)
            except AnswerError as err:
                raise HTTPException(422, str(err)) from None
            listener, token = store.add_listener(name, groups)
            log.info("%s: listener %s (%s) started", package.test_id, name, listener.uuid[:8])
            return {"token": token, **session(listener)}

        return await run_in_threadpool(add)

    @app.get("/api/session")
    def current(request: Request) -> dict:
        return session(listener_of(request))

    @app.post("/api/pages/{page_id}")
    async def submit(page_id: str, request: Request) -> dict:
        body = await _json(request)

        def store_page() -> dict:
            listener = listener_of(request)
            own_page(listener, page_id)
            try:
                store.submit(listener, page_id, parse_answer(package, listener, page_id, body))
            except AnswerError as err:
                raise HTTPException(422, f"page {page_id}: {err}") from None
            except AlreadySubmitted:
                raise HTTPException(409, f"page {page_id} was submitted before; answers are "
                                    "final") from None
            state = session(listener)
            log.info("%s: listener %s (%s) submitted %s: %d of %d pages", package.test_id,
                     listener.name, listener.uuid[:8], page_id, state["done"], state["total"])
            return state

        return await run_in_threadpool(store_page)

    @app.get("/api/audio/{page_id}/{key}")
    def audio(page_id: str, key: str, request: Request) -> FileResponse:
        listener = listener_of(request)
        own_page(listener, page_id)
        try:
            path = audio_file(package, listener, page_id, key)
        except KeyError:
            raise HTTPException(404, f"page {page_id} has no audio {key!r}") from None
        return FileResponse(path, media_type="audio/wav")

    @app.get("/api/admin/results")
    def results(request: Request) -> Response:
        if not hmac.compare_digest(_bearer(request).encode(), admin_token.encode()):
            raise HTTPException(403, "the results need the admin token")
        return Response(results_table(package, store).to_csv(index=False),
                        media_type="text/csv", headers={
                            "Content-Disposition": f"attachment; filename="
                                                   f"{RESULTS_FILES[package.kind]}"})

    return app


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "no token: send the header Authorization: Bearer <token>",
                            headers=CHALLENGE)
    return token.strip()


async def _json(request: Request) -> object:
    """The request's JSON body; 413 when too large, 400 when not JSON."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None


def serve(package_dir: Path, host: str = "127.0.0.1", port: int = 8000,
          db: Path | None = None) -> None:
    """Serve the test in `package_dir` until interrupted (Ctrl-C), ratings in `db` (default
    <package_dir>/listen.sqlite)."""
    import uvicorn

    package = read_package(package_dir)
    store, admin_token = open_store(package, db)
    log.info("%s test %s: %d trials from %s; ratings in %s", package.kind.upper(),
             package.test_id, len(package.trials), package.root, store.path)
    if not _is_loopback(host):
        log.warning("serving on %s: everyone who reaches this machine can open the test, over "
                    "plain HTTP; use a trusted network or a TLS proxy", host)
    log.info("listeners open http://%s:%d/", f"[{host}]" if ":" in host else host, port)
    log.info("admin token: %s (kept in %s; the results: `voxflow listen export` or GET "
             "/api/admin/results with the header Authorization: Bearer <token>)", admin_token,
             store.path)
    uvicorn.run(create_app(package, store, admin_token), host=host, port=port,
                log_level="warning")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
