"""E-mail messages (`.eml`): the body as text, the subject, sender and date as metadata.

The body is the message's text/plain part, else its text/html part's visible text;
attachments are left out. The subject is also the `title`, the context its chunks are
embedded with.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from shoal.errors import InvalidInput
from shoal.text._html import html_text
from shoal.text._source import Source
from shoal.types import Document

__all__ = ["load_email"]


def load_email(source: Source) -> list[Document]:
    """An e-mail message as one Document of its body, with `subject`, `from` and `date`."""
    message = email.message_from_bytes(source.read_bytes(), policy=email.policy.default)
    if not isinstance(message, EmailMessage):  # pragma: no cover - the default policy makes one
        raise InvalidInput(f"cannot read e-mail {source.path}")
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if isinstance(body, EmailMessage):
        try:
            content = body.get_content()
        except (LookupError, ValueError) as exc:  # an unknown charset or a broken encoding
            raise InvalidInput(
                f"cannot decode the body of e-mail {source.path}: {exc}; "
                "save the message again from your mail program"
            ) from exc
        if isinstance(content, bytes):
            content = content.decode("utf-8", errors="replace")
        text = html_text(content)[0] if body.get_content_subtype() == "html" else content
    if not text.strip():
        return []
    metadata: dict[str, Any] = source.base_metadata()
    for header in ("subject", "from", "date"):
        value = message.get(header)
        if value is not None and str(value).strip():
            metadata[header] = " ".join(str(value).split())
    if "subject" in metadata:
        metadata["title"] = metadata["subject"]
    return [Document(text=text.strip("\n") + "\n", metadata=metadata)]
