"""Command-line tasks: ``flask seed-demo``, ``flask create-admin``, ``flask outbox run``,
``flask refunds retry``."""

from __future__ import annotations

import signal
import threading

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db
from portal.models import User


def init_app(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
    def seed_demo(if_empty: bool) -> None:
        """Build (or top up) a believable demo wholesaler and print the logins."""
        from portal import demo

        if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
            click.echo("Database already has data; demo seed skipped.")
            return
        logins = demo.seed()
        click.echo(f"Demo logins (password for all: {demo.DEMO_PASSWORD})")
        for role, email in logins:
            click.echo(f"  {role:<10} {email}")

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--name", default="Administrator")
    @click.password_option()
    def create_admin(email: str, name: str, password: str) -> None:
        """Create an admin account (first set-up of a production instance)."""
        from portal.services import ServiceError, accounts

        try:
            accounts.create_user(None, accounts.NewUser(email=email, name=name, role="admin",
                                                        initial_password=password))
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Admin {email} created.")

    outbox_group = AppGroup("outbox", help="The outbox of notification emails.")

    @outbox_group.command("run")
    @click.option("--once", is_flag=True, help="Send what is due now, then exit.")
    @click.option("--batch", default=20, show_default=True, type=click.IntRange(1, 500),
                  help="Messages claimed per round.")
    @click.option("--poll-interval", type=click.FloatRange(0.1), default=None,
                  help="Seconds between looks when nothing is due (default: OUTBOX_POLL_SECONDS).")
    def outbox_run(once: bool, batch: int, poll_interval: float | None) -> None:
        """Send outbox emails by SMTP. Several workers may run at once (PostgreSQL)."""
        from portal.services import outbox

        interval = poll_interval or app.config["OUTBOX_POLL_SECONDS"]
        stop = threading.Event()
        # SIGTERM (a deploy) finishes the batch in hand and exits: no send is cut short.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if main else None
        try:
            report = outbox.run(once=once, batch=batch, poll_interval=interval, stop=stop)
        except KeyboardInterrupt:
            return
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
            db.session.remove()
        click.echo(f"Outbox: {len(report.sent)} sent, {len(report.suppressed)} suppressed by preference, "
                   f"{len(report.failed)} failed (will be retried).")

    app.cli.add_command(outbox_group)

    refunds_group = AppGroup("refunds", help="Card refunds recorded while Stripe was unreachable.")

    @refunds_group.command("retry")
    @click.option("--order", "order_number", default=None, help="Only this order's refunds (SO-00042).")
    def refunds_retry(order_number: str | None) -> None:
        """Send every refund recorded but not sent, once each (safe to run from cron, or twice at once)."""
        from portal.models import Order
        from portal.services import refunds

        order_id = None
        if order_number:
            order_id = db.session.scalar(select(Order.id).where(Order.number == order_number.strip()))
            if order_id is None:
                raise click.ClickException(f"No order {order_number}.")
        outcomes = refunds.retry_refunds(order_id)
        for outcome in outcomes:
            click.echo(f"refund {outcome.refund_id} ({outcome.amount}): {outcome.status}"
                       + (f" - {outcome.message}" if outcome.message else ""))
        failed = sum(1 for outcome in outcomes if outcome.status == "failed")
        click.echo(f"Refunds: {len(outcomes) - failed} handled, {failed} still pending.")
        db.session.remove()
        if failed:
            raise SystemExit(1)

    app.cli.add_command(refunds_group)
