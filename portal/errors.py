"""Styled error pages; CSRF failures and rate limits get plain-language explanations."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Please check what you entered and try again."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Page not found", "There is nothing here. The link may be old or mistyped."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "The upload is larger than allowed."),
    422: ("Cannot process", "Some of what you entered is not valid."),
    429: ("Too many attempts", "Too many attempts in a short time. Please wait a few minutes and try again."),
    500: ("Something went wrong", "We could not finish this request. Nothing was saved; please try again."),
}


def _render(code: int, detail: str | None = None):
    title, message = MESSAGES.get(code, ("Error", "Something went wrong."))
    if request.path.startswith("/api/"):  # the JSON API answers JSON, errors included
        return jsonify({"error": f"{title}: {detail or message}"}), code
    return render_template("errors/error.html", code=code, title=title, message=detail or message), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return _render(400, "Your form expired or was sent from another page. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        return _render(exc.code)

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        app.logger.exception("Unhandled error")
        from portal.extensions import db
        db.session.rollback()
        return _render(500)
