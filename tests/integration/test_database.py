"""SQLite runs in WAL mode with a busy timeout, and every write transaction begins BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from portal.database import WriteOutsideTransaction, write_transaction
from portal.extensions import db
from portal.models import Company, Stock
from tests.factories import make_company, make_product, set_stock


def _sqlite_path(app) -> str:
    return db.engine.url.database


def test_sqlite_uses_wal_busy_timeout_and_foreign_keys(app):
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == app.config["SQLITE_BUSY_TIMEOUT_MS"]
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_flush_outside_write_transaction_is_refused(any_app):
    db.session.add(Company(name="Sneaky", account_number="X1"))
    with pytest.raises(WriteOutsideTransaction):
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(Company.id)) is None


def test_write_transaction_rolls_back_everything_on_error(any_app):
    with pytest.raises(RuntimeError), write_transaction() as session:
        session.add(Company(name="Half", account_number="H1"))
        session.flush()
        raise RuntimeError("boom")
    assert db.session.scalar(select(Company.id)) is None


def test_write_transactions_do_not_nest(any_app):
    with write_transaction(), pytest.raises(RuntimeError, match="nest"), write_transaction():
        pass


def test_write_transaction_takes_the_sqlite_write_lock_before_reading(app):
    """Inside write_transaction, another writer cannot even begin: the lock is held from BEGIN."""
    other = sqlite3.connect(_sqlite_path(app), timeout=0.05, isolation_level=None)
    try:
        with write_transaction() as session:
            session.execute(select(Company.id)).all()  # a read only; the lock is already ours
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_plain_reads_do_not_take_the_write_lock(app):
    make_company("Reader Inc")
    db.session.execute(select(Company.id)).all()  # an open deferred read transaction
    other = sqlite3.connect(_sqlite_path(app), timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.no_invariants  # bumps on_hand directly: it tests the transaction layer, not the ledger
def test_concurrent_read_modify_write_transactions_all_succeed(any_app):
    """Twenty threads each read a stock row and write it back +1: no lock errors, no lost update."""
    product = make_product()
    set_stock(product, 0)
    product_id = product.id
    app = any_app
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def bump() -> None:
        with app.app_context():
            try:
                barrier.wait()
                with write_transaction() as session:
                    query = select(Stock).where(Stock.product_id == product_id)
                    if db.engine.dialect.name == "postgresql":
                        query = query.with_for_update()
                    stock = session.scalar(query)
                    stock.on_hand = stock.on_hand + 1
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=bump) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.rollback()  # end this thread's read snapshot (WAL readers see the state they began with)
    assert db.session.scalar(select(Stock.on_hand).where(Stock.product_id == product_id)) == 20


def test_money_round_trips_as_decimal(any_app):
    company = make_company("Money Co", credit_limit=Decimal("1234.56"))
    db.session.expire_all()
    value = db.session.get(Company, company.id).credit_limit
    assert isinstance(value, Decimal) and value == Decimal("1234.56")
