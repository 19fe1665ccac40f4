"""Writing thousands of rows in a few statements, inside the caller's transaction (issue 6: a receipt
serving 10,000 backorders, POs generated for 100,000).

Measured in bench/bench_purchasing.py: a plain ``executemany`` is fast on SQLite (one prepared
statement, no round trips) but is one statement per row on PostgreSQL (about 0.1 ms each there, most of
a receipt's time); SQLAlchemy's multi-row "insertmanyvalues" batches and array parameters (``unnest``)
cost more Python than they save (psycopg escapes every array element in Python). So on PostgreSQL an
insert is one ``COPY ... FROM STDIN`` through the session's connection (psycopg's C adapters; about 40 %
less time than the ``INSERT ... SELECT ... FROM json_to_recordset(...)`` it replaced for a 10,000-row
receipt), and an update COPYs the new values into a temporary table (dropped at once, and on commit)
that one ``UPDATE ... FROM`` joins.
Column defaults computed in Python (``created_at``) are filled in here, once per call. Both bypass the
ORM: callers expire what they hold.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from operator import itemgetter

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.orm import Session

from portal import fast_sql


def _table(model) -> Table:
    return model if isinstance(model, Table) else model.__table__


#: Fewer rows than this go as a plain INSERT: COPY costs more round trips than it saves on a few rows.
COPY_FROM_ROWS = 20


@functools.cache
def _insert_of(table, keys: tuple[str, ...]):
    """One INSERT statement per table and set of columns, built once (inserts of a few rows run on every
    order); every column named, so it can go through the driver directly (``portal.fast_sql``)."""
    return insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in keys})


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _defaults(table, given) -> dict:
    """Column defaults SQLAlchemy would compute in Python for the columns not ``given`` (once per call)."""
    found = {}
    for each in table.columns:
        default = each.default
        if each.name in given or default is None or not (default.is_scalar or default.is_callable):
            continue
        found[each.name] = default.arg if default.is_scalar else default.arg(None)
    return found


def insert_rows(session: Session, model, rows: Sequence[dict]) -> None:
    """INSERT ``rows`` (dicts with the same keys; column defaults fill the rest)."""
    if not rows:
        return
    table = _table(model)
    defaults = _defaults(table, rows[0])
    if not _postgres(session) or len(rows) < COPY_FROM_ROWS:
        statement, conn = _insert_of(table, (*rows[0], *defaults)), session.connection()
        if len(rows) == 1:  # the usual case on every order: through the driver directly
            fast_sql.execute(conn, statement, {**rows[0], **defaults})
        else:  # one multi-row INSERT ("insertmanyvalues"), not one statement per row
            conn.execute(statement, [{**row, **defaults} for row in rows])
        return
    keys = list(rows[0])
    names = ", ".join(f'"{name}"' for name in [*keys, *defaults])
    extra = tuple(defaults.values())
    # COPY, through the session's own connection (so inside its transaction): the rows go as one
    # stream, adapted by psycopg's C code; column defaults and constraints apply as for an INSERT.
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        values = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
        for row in rows:
            copy.write_row(values(row) + extra)


@functools.cache
def _inserts_of(tables: tuple, keys: tuple[tuple[str, ...], ...]):
    """One statement inserting one row into each table (PostgreSQL: all but the last as data-modifying
    CTEs), built once per tables and columns; parameters are named ``t<index>_<column>``."""
    def one(index, table, names):
        return insert(table).values({name: bindparam(f"t{index}_{name}", type_=table.c[name].type)
                                     for name in names})

    *first, last = [one(index, table, names)
                    for index, (table, names) in enumerate(zip(tables, keys, strict=True))]
    return last.add_cte(*(statement.cte(f"t{index}") for index, statement in enumerate(first)))


def insert_one_row_each(session: Session, inserts: Sequence[tuple[object, dict]]) -> None:
    """INSERT one row into each of several tables — ``(model, row)`` pairs, in order — as one statement on
    PostgreSQL (a round trip less per table: an order's outbox message and notice), one each elsewhere."""
    if not _postgres(session):
        for model, row in inserts:
            insert_rows(session, model, [row])
        return
    tables, params, keys = [], {}, []
    for index, (model, row) in enumerate(inserts):
        table = _table(model)
        full = {**row, **_defaults(table, row)}
        tables.append(table)
        keys.append(tuple(full))
        params.update({f"t{index}_{name}": value for name, value in full.items()})
    fast_sql.execute(session.connection(), _inserts_of(tuple(tables), tuple(keys)), params)


def update_rows(session: Session, model, rows: Sequence[dict], key: str = "id") -> None:
    """UPDATE each row found by ``key`` with the other values of its dict (same keys in every dict)."""
    if not rows:
        return
    table = _table(model)
    names = [name for name in rows[0] if name != key]
    if not _postgres(session):
        statement = (table.update().where(table.c[key] == bindparam(f"b_{key}"))
                     .values({name: bindparam(f"b_{name}") for name in names}))
        session.execute(statement, [{f"b_{name}": value for name, value in row.items()} for row in rows])
        return
    # COPY the new values into a temporary table shaped like the target's columns, then one UPDATE
    # joins it (as fast as the inserts; the JSON recordset cost a Python call per date value).
    from psycopg import sql

    columns = [key, *names]
    target, given = sql.Identifier(table.name), sql.Identifier("bulk_given")
    listed = sql.SQL(", ").join(map(sql.Identifier, columns))
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA")
                       .format(given, listed, target))
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(given, listed)) as copy:
            values = itemgetter(*columns)
            for row in rows:
                copy.write_row(values(row))
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Identifier("bulk_given", name))
            for name in names)
        cursor.execute(sql.SQL("UPDATE {} SET {} FROM {} WHERE {} = {}").format(
            target, assignments, given, sql.Identifier(table.name, key), sql.Identifier("bulk_given", key)))
        cursor.execute(sql.SQL("DROP TABLE {}").format(given))
