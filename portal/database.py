"""Database engine set-up and the write-transaction helper.

SQLite: WAL mode, a busy timeout, foreign keys on, and the driver's own transaction handling turned off so
that we emit ``BEGIN`` ourselves. A transaction opened inside :func:`write_transaction` starts with
``BEGIN IMMEDIATE`` (it takes the write lock before reading anything it decides on); any other
transaction is a deferred read. A flush outside ``write_transaction`` is refused: a deferred SQLite
transaction that reads and then writes fails under load, so the mistake must show up in tests.

PostgreSQL: ``write_transaction`` only marks the unit of work; services lock the rows they decide on with
``SELECT ... FOR UPDATE`` in id order.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.extensions import db

_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("portal_writing", default=False)


class WriteOutsideTransaction(RuntimeError):
    """A flush happened outside ``write_transaction``."""


def in_write_transaction() -> bool:
    """Whether the current unit of work is a :func:`write_transaction`."""
    return _writing.get()


def is_sqlite(engine: Engine | None = None) -> bool:
    return (engine or db.engine).dialect.name == "sqlite"


def install_engine_hooks(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _install_sqlite_hooks(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every SQLite test
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _writing.get() else "BEGIN")


@event.listens_for(Session, "before_flush")
def _refuse_unmarked_writes(session: Session, _ctx, _instances) -> None:
    if not _writing.get() and (session.new or session.dirty or session.deleted):
        raise WriteOutsideTransaction(
            "Writes must happen inside portal.database.write_transaction() (SQLite needs BEGIN IMMEDIATE)."
        )


@contextmanager
def write_transaction() -> Iterator[Session]:
    """Run one unit of work that writes, and commit it once.

    Ends any read transaction the request has open (committing nothing), begins a new one that takes the
    write lock first on SQLite, yields the session, commits on success and rolls back on any exception.
    Nesting is an error: one service owns one transaction.
    """
    if _writing.get():
        raise RuntimeError("write_transaction() does not nest: one use case, one transaction.")
    session = db.session()  # the request's Session behind the scoped proxy
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise WriteOutsideTransaction("Pending changes made outside write_transaction().")
        session.commit()  # ends the read transaction; nothing is written
    token = _writing.set(True)
    try:
        with session.begin():
            yield session
    finally:
        _writing.reset(token)
