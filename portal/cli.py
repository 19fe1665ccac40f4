"""Command-line tasks: ``flask seed-demo``, ``flask create-admin``."""

from __future__ import annotations

import click
from flask import Flask
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
