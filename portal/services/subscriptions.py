"""Back-in-stock subscriptions ("Notify me"). Sending the notice comes with the notifications issue."""

from __future__ import annotations

from sqlalchemy import delete, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import StockSubscription, User


def is_subscribed(user: User, product_id: int) -> bool:
    return db.session.scalar(select(StockSubscription.id).where(
        StockSubscription.user_id == user.id, StockSubscription.product_id == product_id,
        StockSubscription.notified_at.is_(None))) is not None


def subscribe(user: User, product_id: int) -> None:
    """Idempotent: a second request keeps the one waiting subscription (unique per user and product)."""
    with write_transaction() as session:
        existing = session.scalar(select(StockSubscription).where(
            StockSubscription.user_id == user.id, StockSubscription.product_id == product_id))
        if existing is None:
            session.add(StockSubscription(user_id=user.id, product_id=product_id))
        elif existing.notified_at is not None:
            existing.notified_at = None  # notified before; wait for the next restock


def unsubscribe(user: User, product_id: int) -> None:
    with write_transaction() as session:
        session.execute(delete(StockSubscription).where(
            StockSubscription.user_id == user.id, StockSubscription.product_id == product_id))
