"""The portal's WSGI app with timing instrumentation, for ``bench/bench_checkout.py`` only.

    gunicorn -w 2 -k gthread --threads 8 'bench.checkout_app:app'

Same app as ``wsgi:app`` (built by ``portal.create_app`` from the environment), plus, per request:

- an ``X-Bench`` response header: ``total`` (ms from the WSGI call to ``start_response``, i.e. after the
  view and the session save), ``cpu`` (CPU time of the serving thread, ``time.thread_time``), ``sql``
  (ms inside cursor.execute and the DBAPI commit, lock waits included), ``n`` (statements and commits);
  for ``POST /checkout/place`` also the phases of ``ordering.place_order``: ``pre`` (request start to the
  service call: session, login check, CSRF, form, signature), ``claim`` (service start to the lock query:
  the token insert), ``wait`` (the ``_lock`` call: cart, product and stock ``FOR UPDATE``, i.e. queueing
  behind other buyers of the same rows), ``hold`` (rows locked to COMMIT done: re-planning against live
  stock, the writes and the commit; the time the hot rows are held), ``post`` (service return to
  ``start_response``: redirect, session save); for ``POST /api/v1/orders`` the same phases of
  ``api_orders.place``: ``pre`` (key hashing, JSON parsing), ``claim`` (the key read, which locks the
  company's row, the reads before the product locks and the token insert), ``wait`` (first to last
  row-locking statement after the key read: products and stock), ``hold`` (last lock to COMMIT done),
  ``post`` (the JSON answer);
- with ``BENCH_SQL_STATS_DIR`` set: count and total time per request path and statement text (``IN``
  lists folded), written every few seconds to ``sql-<pid>.json``;
- with ``BENCH_PROFILE_DIR`` set: an in-process wall-clock sampler (``sys._current_frames`` every
  ``BENCH_PROFILE_INTERVAL_MS``, default 5) over the threads that are serving a request; every few seconds
  it writes ``profile-<pid>.json`` (sample counts by innermost frame, by function anywhere on the stack,
  and by package of the innermost frame). Sampling costs CPU: use it in a separate, unmeasured pass.

The monkeypatching touches only this process's module globals; nothing under ``portal/`` is changed.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.services import api_orders, ordering  # noqa: E402

_local = threading.local()
#: A row-locking statement (the API service locks with statements, not through a function to wrap).
_ROW_LOCK = re.compile(r"\bFOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b")


def _locks_rows(statement: str) -> bool:
    """A row-locking statement of the ``wait`` phase (the API's key read locks its company: ``claim``)."""
    return bool(_ROW_LOCK.search(statement)) and "FROM api_keys" not in statement
_serving: set[int] = set()


def _state() -> dict:
    state = getattr(_local, "state", None)
    if state is None:
        state = _local.state = {}
    return state


# --- SQL time and count ------------------------------------------------------------------------------


def _install_sql_hooks(app) -> None:
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        state = _state()
        if state.get("locks_by_sql") and _locks_rows(statement):
            state.setdefault("lock_t0", time.perf_counter())
        state["sql_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        state = _state()
        t0 = state.pop("sql_t0", None)
        if t0 is not None:
            took = time.perf_counter() - t0
            if state.get("locks_by_sql") and _locks_rows(statement):
                state["lock_t1"] = t0 + took
            state["sql"] = state.get("sql", 0.0) + took
            state["n"] = state.get("n", 0) + 1
            if _sql_stats is not None:
                _sql_stats.add(state.get("endpoint", "?"), statement, took)


def _install_commit_timer() -> None:
    """Time the DBAPI commit (it is not a cursor execute) by wrapping the dialect's do_commit."""
    from sqlalchemy.engine.default import DefaultDialect

    original = DefaultDialect.do_commit

    def do_commit(self, dbapi_connection):
        t0 = time.perf_counter()
        try:
            return original(self, dbapi_connection)
        finally:
            state = _state()
            state["sql"] = state.get("sql", 0.0) + time.perf_counter() - t0
            state["n"] = state.get("n", 0) + 1

    DefaultDialect.do_commit = do_commit  # type: ignore[method-assign]


# --- phases of place_order --------------------------------------------------------------------------


def _install_phase_timers() -> None:
    original_place, original_lock = ordering.place_order, ordering._lock
    original_wt = ordering.write_transaction

    def place_order(*args, **kwargs):
        state = _state()
        state["place_t0"] = time.perf_counter()
        try:
            return original_place(*args, **kwargs)
        finally:
            state["place_t1"] = time.perf_counter()

    def _lock(*args, **kwargs):
        state = _state()
        state["lock_t0"] = time.perf_counter()
        try:
            return original_lock(*args, **kwargs)
        finally:
            state["lock_t1"] = time.perf_counter()

    @contextmanager
    def write_transaction():
        with original_wt() as session:
            yield session
        _state()["commit_done"] = time.perf_counter()

    ordering.place_order, ordering._lock, ordering.write_transaction = place_order, _lock, write_transaction
    # The view imported the module, not the function: patching the module attribute is enough.


def _install_api_phase_timers() -> None:
    """The same phases for ``api_orders.place``; its lock phase comes from the SQL hooks."""
    original_place, original_wt = api_orders.place, api_orders.write_transaction

    def place(*args, **kwargs):
        state = _state()
        state["place_t0"], state["locks_by_sql"] = time.perf_counter(), True
        try:
            return original_place(*args, **kwargs)
        finally:
            state["place_t1"], state["locks_by_sql"] = time.perf_counter(), False

    @contextmanager
    def write_transaction():
        with original_wt() as session:
            yield session
        _state()["commit_done"] = time.perf_counter()

    api_orders.place, api_orders.write_transaction = place, write_transaction


def _phases(state: dict, start: float, end: float) -> dict[str, float]:
    p0, p1 = state.get("place_t0"), state.get("place_t1")
    l0, l1, c = state.get("lock_t0"), state.get("lock_t1"), state.get("commit_done")
    if p0 is None or p1 is None:
        return {}
    out = {"pre": p0 - start, "post": end - p1}
    if l0 is not None and l1 is not None:
        out["claim"], out["wait"] = l0 - p0, l1 - l0
        if c is not None:
            out["hold"] = c - l1
    return out


# --- sampling profiler ------------------------------------------------------------------------------


class Sampler:
    def __init__(self, directory: Path, interval: float):
        self.path = directory / f"profile-{os.getpid()}.json"
        self.interval = interval
        self.leaf: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()
        self.package: Counter[str] = Counter()
        self.samples = 0
        self.lock = threading.Lock()

    @staticmethod
    def _where(code) -> str:
        return f"{code.co_filename.replace(str(ROOT) + '/', '')}:{code.co_firstlineno}:{code.co_name}"

    @staticmethod
    def _package(filename: str) -> str:
        if "/site-packages/" in filename:
            return filename.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        if str(ROOT / "portal") in filename:
            parts = filename.split(str(ROOT) + "/", 1)[1].split("/")
            return "/".join(parts[:2]) if len(parts) > 2 else parts[0]
        if "/lib/python" in filename:
            return "stdlib:" + filename.rsplit("/", 1)[1].removesuffix(".py")
        return filename

    def run(self) -> None:
        last_dump = time.monotonic()
        me = threading.get_ident()
        while True:
            time.sleep(self.interval)
            frames = sys._current_frames()
            with self.lock:
                for ident in list(_serving):
                    if ident == me:
                        continue
                    frame = frames.get(ident)
                    if frame is None:
                        continue
                    self.samples += 1
                    self.leaf[self._where(frame.f_code)] += 1
                    self.package[self._package(frame.f_code.co_filename)] += 1
                    seen = set()
                    while frame is not None:
                        key = self._where(frame.f_code)
                        if key not in seen:
                            seen.add(key)
                            self.inclusive[key] += 1
                        frame = frame.f_back
            if time.monotonic() - last_dump > 3:
                self.dump()
                last_dump = time.monotonic()

    def dump(self) -> None:
        with self.lock:
            data = {
                "pid": os.getpid(),
                "samples": self.samples,
                "interval_s": self.interval,
                "leaf": self.leaf.most_common(200),
                "inclusive": self.inclusive.most_common(400),
                "package": self.package.most_common(100),
            }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


# --- time per statement text -----------------------------------------------------------------------

_IN_LIST = re.compile(r"\((?:%\(\w+\)s(?:::\w+)?,\s*)+%\(\w+\)s(?:::\w+)?\)")
_SPACE = re.compile(r"\s+")


class SqlStats:
    """Count and total time per (request path, statement text), ``IN (...)`` lists folded."""

    def __init__(self, directory: Path):
        self.path = directory / f"sql-{os.getpid()}.json"
        self.rows: dict[tuple[str, str], list[float]] = {}
        self.lock = threading.Lock()

    def add(self, endpoint: str, statement: str, took: float) -> None:
        key = (endpoint, _IN_LIST.sub("(...)", _SPACE.sub(" ", statement))[:400])
        with self.lock:
            row = self.rows.setdefault(key, [0, 0.0])
            row[0] += 1
            row[1] += took

    def run(self) -> None:
        while True:
            time.sleep(3)
            self.dump()

    def dump(self) -> None:
        with self.lock:
            data = [[e, s, n, t] for (e, s), (n, t) in self.rows.items()]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


_sql_stats: SqlStats | None = None


# --- the WSGI wrapper -------------------------------------------------------------------------------


def instrument(flask_app):
    _install_sql_hooks(flask_app)
    _install_commit_timer()
    _install_phase_timers()
    _install_api_phase_timers()
    inner = flask_app.wsgi_app

    def wsgi(environ, start_response):
        _local.state = {"endpoint": f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO', '')}"}
        cpu0 = time.thread_time()
        ident = threading.get_ident()
        _serving.add(ident)
        start = time.perf_counter()

        def timed_start_response(status, headers, exc_info=None):
            end = time.perf_counter()
            state = _state()
            fields = {"total": end - start, "cpu": time.thread_time() - cpu0, "sql": state.get("sql", 0.0)}
            fields.update(_phases(state, start, end))
            value = ",".join(f"{k}={v * 1000:.2f}" for k, v in fields.items()) + f",n={state.get('n', 0)}"
            return start_response(status, [*headers, ("X-Bench", value)], exc_info)

        try:
            return inner(environ, timed_start_response)
        finally:
            _serving.discard(ident)

    flask_app.wsgi_app = wsgi

    global _sql_stats
    stats_dir = os.environ.get("BENCH_SQL_STATS_DIR")
    if stats_dir:
        _sql_stats = SqlStats(Path(stats_dir))
        threading.Thread(target=_sql_stats.run, name="bench-sql-stats", daemon=True).start()
        atexit.register(_sql_stats.dump)

    directory = os.environ.get("BENCH_PROFILE_DIR")
    if directory:
        sampler = Sampler(Path(directory), float(os.environ.get("BENCH_PROFILE_INTERVAL_MS", "5")) / 1000)
        threading.Thread(target=sampler.run, name="bench-sampler", daemon=True).start()
        atexit.register(sampler.dump)
    return flask_app


app = instrument(create_app())
