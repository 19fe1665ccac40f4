"""Product images: checked by content (Pillow), re-encoded as JPEG in two sizes under the instance folder.

Re-encoding means nothing the uploader sent is ever served back as-is (no polyglot files, no metadata).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.models import ProductImage, User
from portal.services import ServiceError
from portal.services.audit import record

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
SIZES = {"large": 1200, "thumb": 320}


class BadImage(ServiceError):
    pass


def image_path(app: Flask, stem: str, size: str) -> Path:
    return Path(app.instance_path) / "uploads" / "products" / f"{stem}-{size}.jpg"


def _open_checked(stream: BinaryIO) -> Image.Image:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise BadImage(f"The image is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise BadImage("The file is empty.")
    from io import BytesIO

    try:
        with Image.open(BytesIO(data)) as probe:
            kind = probe.format
            probe.verify()
        image = Image.open(BytesIO(data))
        if kind not in ACCEPTED_FORMATS:
            raise BadImage("Upload a JPEG, PNG, WebP or GIF image.")
        if image.width * image.height > MAX_PIXELS:
            raise BadImage("The image has too many pixels; use one under 40 megapixels.")
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage("This file is not an image we can read. Upload a JPEG, PNG, WebP or GIF.") from exc
    return image


def add_image(actor: User, product_id: int, stream: BinaryIO, alt_text: str) -> ProductImage:
    image = ImageOps.exif_transpose(_open_checked(stream)).convert("RGB")
    stem = secrets.token_hex(12)
    written: list[Path] = []
    try:
        for size, edge in SIZES.items():
            path = image_path(current_app, stem, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            copy = image.copy()
            copy.thumbnail((edge, edge))
            copy.save(path, "JPEG", quality=85, optimize=True)
            written.append(path)
        with write_transaction() as session:
            position = session.scalar(select(func.coalesce(func.max(ProductImage.position), -1))
                                      .where(ProductImage.product_id == product_id)) + 1
            row = ProductImage(product_id=product_id, stem=stem, alt_text=alt_text.strip()[:200],
                               position=position, width=image.width, height=image.height)
            session.add(row)
            session.flush()
            record(actor, "image_added", "product", product_id, after={"image": stem})
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return row


def remove_image(actor: User, image_id: int) -> None:
    with write_transaction() as session:
        row = session.get(ProductImage, image_id)
        if row is None:
            raise ServiceError("That image no longer exists.")
        stem, product_id = row.stem, row.product_id
        session.delete(row)
        record(actor, "image_removed", "product", product_id, before={"image": stem})
    for size in SIZES:
        image_path(current_app, stem, size).unlink(missing_ok=True)
