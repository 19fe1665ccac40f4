"""PDF documents from Jinja templates, with WeasyPrint (a thin adapter: no business rules here).

Relative URLs in a template (``img/logo.png``, a stylesheet) resolve against the app's ``static`` folder
on disk. The renderer fetches nothing else: no network (a PDF rendered inside a request must not call
out, least of all to our own server) and no file outside ``static``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template


def _static_root() -> Path:
    return Path(current_app.static_folder or Path(current_app.root_path) / "static").resolve()


def _fetcher(root: Path):
    from weasyprint.urls import URLFetcher

    class StaticOnlyFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme == "data":
                return super().fetch(url, headers)
            path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
            if path is None or not path.is_relative_to(root):
                raise ValueError(f"PDF resources come from the static folder only, not {url}")
            return super().fetch(url, headers)

    return StaticOnlyFetcher(allowed_protocols={"file", "data"})


def render_pdf(template: str, **context) -> bytes:
    """Render ``template`` with ``context`` and return the PDF bytes."""
    from weasyprint import HTML  # imported on first use: it is slow to load and only PDFs need it

    root = _static_root()
    html = render_template(template, **context)
    return HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=_fetcher(root)).write_pdf()
