"""Files uploaded to a record (a client now, any kind declared through ``record_types``).

The bytes live under ``<instance>/attachments/`` with random names, outside the web root;
they are served only to users who may see the record. An upload is checked for size, for
an allowed extension, and for content that really is of that type (sniffed), before
anything is stored.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app

from core import records
from core.db import db
from core.documents.models import Attachment
from core.users.services import ValidationFailed

CHUNK = 64 * 1024


def _zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def _zip_with(*names: str) -> Callable[[Path, bytes], bool]:
    def check(path: Path, head: bytes) -> bool:
        if not head.startswith(b"PK\x03\x04") or not _zip(path):
            return False
        with zipfile.ZipFile(path) as archive:
            present = set(archive.namelist())
        return all(n in present for n in names)

    return check


def _prefix(*magics: bytes) -> Callable[[Path, bytes], bool]:
    return lambda path, head: head.startswith(magics)


def _text(path: Path, head: bytes) -> bool:
    # No NUL bytes and valid UTF-8 (or a Windows code page: every byte decodes as cp1251).
    sample = path.read_bytes()[: 1024 * 1024]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a character cut at the sample's end is fine
            try:
                sample.decode("cp1251")
            except UnicodeDecodeError:
                return False
    return True


def _webp(path: Path, head: bytes) -> bool:
    return head.startswith(b"RIFF") and head[8:12] == b"WEBP"


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OOXML = _zip_with("[Content_Types].xml")
ODF = _zip_with("mimetype")
# extension -> (MIME type served, content check)
ALLOWED: dict[str, tuple[str, Callable[[Path, bytes], bool]]] = {
    "pdf": ("application/pdf", _prefix(b"%PDF-")),
    "png": ("image/png", _prefix(b"\x89PNG\r\n\x1a\n")),
    "jpg": ("image/jpeg", _prefix(b"\xff\xd8\xff")),
    "jpeg": ("image/jpeg", _prefix(b"\xff\xd8\xff")),
    "gif": ("image/gif", _prefix(b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", _webp),
    "doc": ("application/msword", _prefix(OLE)),
    "xls": ("application/vnd.ms-excel", _prefix(OLE)),
    "ppt": ("application/vnd.ms-powerpoint", _prefix(OLE)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", OOXML),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", OOXML),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", OOXML),
    "odt": ("application/vnd.oasis.opendocument.text", ODF),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", ODF),
    "rtf": ("application/rtf", _prefix(b"{\\rtf")),
    "txt": ("text/plain", _text),
    "csv": ("text/csv", _text),
    "zip": ("application/zip", lambda path, head: head[:4] in (b"PK\x03\x04", b"PK\x05\x06")),
}


def max_bytes() -> int:
    return int(current_app.config["CRM_ATTACHMENT_MAX_MB"] * 1024 * 1024)


def folder() -> Path:
    path = Path(current_app.instance_path) / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_of(attachment: Attachment) -> Path:
    return folder() / attachment.stored_name[:2] / attachment.stored_name


def _clean_name(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?')
    return name[:255]


def save_upload(
    kind: str, record_id: int, filename: str, stream: IO[bytes], user: Any
) -> Attachment:
    """Store an uploaded file on a record ``user`` may see; ValidationFailed (nothing is
    stored) for a record they may not see, an empty or too large file, or a forbidden type."""
    if records.visible(kind, record_id, user) is None:
        raise ValidationFailed({"record": ["There is no such record you may see."]}, status=404)
    name = _clean_name(filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED:
        raise ValidationFailed(
            {"file": [f"Files of this type are not allowed; allowed: {', '.join(ALLOWED)}."]}
        )
    limit = max_bytes()
    stored_name = secrets.token_hex(16)
    target = folder() / stored_name[:2]
    target.mkdir(exist_ok=True)
    partial = target / f".{stored_name}.part"
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ValidationFailed(
                        {"file": [f"The file is larger than {limit // (1024 * 1024)} MB."]},
                        status=413,
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ValidationFailed({"file": ["The file is empty."]})
        with partial.open("rb") as handle:
            head = handle.read(64)
        mimetype, sniff = ALLOWED[extension]
        if not sniff(partial, head):
            raise ValidationFailed(
                {"file": [f"The content of this file is not {extension.upper()}."]}
            )
        attachment = Attachment(
            record_kind=kind,
            record_id=record_id,
            filename=name,
            stored_name=stored_name,
            mimetype=mimetype,
            size=size,
            sha256=digest.hexdigest(),
            created_by_id=getattr(user, "id", None),
        )
        db.session.add(attachment)
        db.session.flush()
        os.replace(partial, target / stored_name)
        try:
            db.session.commit()
        except Exception:
            (target / stored_name).unlink(missing_ok=True)
            raise
        return attachment
    finally:
        partial.unlink(missing_ok=True)


def record_attachments(kind: str, record_id: int, limit: int = 100) -> list[Attachment]:
    return list(
        db.session.execute(
            sa.select(Attachment)
            .where(Attachment.record_kind == kind, Attachment.record_id == record_id)
            .order_by(Attachment.id.desc())
            .limit(limit)
        ).scalars()
    )


def panel(kind: str, record_id: int, user: Any, files: list | None = None) -> dict[str, Any]:
    """What ``documents/panel_attachments.html`` shows for a record: its files (read here
    unless given, as the client card reads them with its other panels), who may delete
    which, and the upload form's limits. Any record kind: the client card includes it, and
    so can a plugin's page (the sales plugin's deal card)."""
    return {
        "attach_kind": kind,
        "attach_record_id": record_id,
        "files": record_attachments(kind, record_id) if files is None else files,
        "allowed": ", ".join(ALLOWED),
        "max_mb": max_bytes() // (1024 * 1024),
        "may_delete": lambda attachment: may_delete(attachment, user),
    }


def visible_attachment(attachment_id: int, user: Any) -> Attachment | None:
    """The attachment if ``user`` may see the record it belongs to."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        return None
    if records.visible(attachment.record_kind, attachment.record_id, user) is None:
        return None
    return attachment


def may_delete(attachment: Attachment, user: Any) -> bool:
    return bool(getattr(user, "is_admin", False)) or attachment.created_by_id == user.id


def delete(attachment: Attachment, user: Any) -> None:
    if not may_delete(attachment, user):
        raise ValidationFailed(
            {"attachment": ["Only the person who uploaded it or an administrator may delete it."]},
            status=403,
        )
    path = path_of(attachment)
    db.session.delete(attachment)
    db.session.commit()
    path.unlink(missing_ok=True)
