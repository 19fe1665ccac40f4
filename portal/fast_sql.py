"""Prebuilt Core statements run through the driver directly on PostgreSQL, for the ordering API's hot path.

Every statement through SQLAlchemy's ``Connection.execute`` costs about 90 µs of Python above psycopg's
own (execution context, parameter and result set-up, the ORM session's layer for ``session.execute``),
and an API order runs a dozen of them: a sixth of the order's CPU. Here a statement is compiled once
per dialect and then sent with ``cursor.execute``: the same SQL text and parameters SQLAlchemy would
send (its ``construct_params`` and ``construct_expanded_state`` fill in bound literals and expand
``IN`` lists), rows as named tuples with the statement's column keys. Only statements whose types need
no conversion on psycopg go so (checked when compiled: no bind processors; psycopg itself returns
Decimal, date and datetime); SQLAlchemy runs the others, and every statement on SQLite, so both paths
are exercised by the tests, and a test compares their rows.

The engine's ``before_cursor_execute`` / ``after_cursor_execute`` listeners still see each statement
(statement-count tests, the benchmark's timing), dispatched only when there are any.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import NullType

_compiled: dict[int, tuple[Any, type | None] | None] = {}
_keep: list[ClauseElement] = []  # the statements compiled: their ids stay unique while they live


def _compile(statement: ClauseElement, conn: Connection):
    """(compiled, row class), or None for a statement whose parameters need converting (JSON, say):
    SQLAlchemy runs those."""
    key = id(statement)
    if key not in _compiled:
        compiled = statement.compile(dialect=conn.dialect)
        keys = [column.keyname for column in compiled._result_columns]  # noqa: SLF001
        _compiled[key] = None if compiled._bind_processors else (  # noqa: SLF001
            compiled, namedtuple("Row", keys, rename=True) if keys else None)
        _keep.append(statement)
    return _compiled[key]


def _send(conn: Connection, statement: ClauseElement, params: dict | Sequence[dict] | None):
    """Execute on the driver's cursor; returns (cursor, row class)."""
    compiled, row = _compile(statement, conn)  # callers checked it is not None
    many = isinstance(params, list)
    if compiled.post_compile_params:  # IN lists: expand them as SQLAlchemy does
        expanded = compiled.construct_expanded_state(params)
        sql, parameters = expanded.statement, expanded.parameters
    elif many:
        sql, parameters = compiled.string, [compiled.construct_params(each) for each in params]
    else:
        sql, parameters = compiled.string, compiled.construct_params(params or {})
    cursor = conn.connection.driver_connection.cursor()
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute:
        for listener in dispatch.before_cursor_execute:
            listener(conn, cursor, sql, parameters, None, many)
    if many:
        cursor.executemany(sql, parameters)
    else:
        cursor.execute(sql, parameters)
    if dispatch.after_cursor_execute:
        for listener in dispatch.after_cursor_execute:
            listener(conn, cursor, sql, parameters, None, many)
    return cursor, row


def _direct(conn: Connection, statement: ClauseElement) -> bool:
    return conn.dialect.name == "postgresql" and _compile(statement, conn) is not None


def all(conn: Connection, statement: ClauseElement, params: dict | None = None) -> list:  # noqa: A001
    """Every row (named tuples on PostgreSQL, SQLAlchemy rows elsewhere)."""
    if not _direct(conn, statement):
        return conn.execute(statement, params or {}).all()
    cursor, row = _send(conn, statement, params)
    with cursor:
        return [row._make(values) for values in cursor.fetchall()]


def first(conn: Connection, statement: ClauseElement, params: dict | None = None):
    """The first row, or None."""
    if not _direct(conn, statement):
        return conn.execute(statement, params or {}).first()
    cursor, row = _send(conn, statement, params)
    with cursor:
        values = cursor.fetchone()
    return None if values is None else row._make(values)


def execute(conn: Connection, statement: ClauseElement, params: dict | list[dict] | None = None) -> None:
    """Run a statement for its effect (a list of parameter sets: once for each)."""
    if not _direct(conn, statement):
        conn.execute(statement, params or {})
        return
    cursor, _ = _send(conn, statement, params)
    cursor.close()


class OneOf(FunctionElement):
    """``OneOf(column, "name")``: ``column IN (...)`` for a list parameter ``name``. On PostgreSQL it is
    ``column = ANY(CAST(:name AS <type>[]))``, one array parameter: one statement text whatever the
    list's length (psycopg prepares it once) and no IN list to expand on every execution; elsewhere an
    expanding IN. A function element, so statements using it stay in SQLAlchemy's compiled cache."""

    type = NullType()  # not Boolean: SQLite would compare it "= 1"
    name = "one_of"
    inherit_cache = True

    def __init__(self, column, name: str):
        super().__init__(column, bindparam(name, expanding=True))


@compiles(OneOf)
def _one_of(element, compiler, **kw) -> str:
    column, listed = element.clauses
    return compiler.process(column.in_(listed), **kw)


@compiles(OneOf, "postgresql")
def _one_of_postgresql(element, compiler, **kw) -> str:
    column, listed = element.clauses
    item_type = compiler.dialect.type_compiler_instance.process(column.type)
    return (f"{compiler.process(column, **kw)} = ANY(CAST({compiler.process(bindparam(listed.key), **kw)} "
            f"AS {item_type}[]))")
