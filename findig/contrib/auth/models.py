"""The models of the user store: :class:`User` and :class:`Token`.

Neither keeps a secret in a form that can be used: a user has a password
*hash* (see :mod:`findig.contrib.auth.hashing`), a token the SHA-256 digest
of the token string, which is high-entropy, plus a short public *prefix*
to find it by. Their ``repr()`` shows neither.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from findig.project.db import Model

__all__ = ["Token", "UTCDateTime", "User", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC.

    It is ``DateTime(timezone=True)`` in the database; on SQLite, which
    keeps no time zone, values are stored as naive UTC and read back as
    aware UTC datetimes. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"Expected a timezone-aware datetime, got {value!r}")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class User(Model):
    """A user of the service.

    :ivar username: The normalised user name (see
        :func:`~findig.contrib.auth.validation.normalize_username`); unique.
    :ivar password_hash: The password hash, or ``None`` when the user has no
        usable password (tokens only).
    :ivar is_active: Inactive users cannot log in, and their tokens stop
        working.
    :ivar scopes: The scopes granted, in canonical form (space-separated).
    """

    __tablename__ = "auth_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    scopes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    tokens: Mapped[list[Token]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"<User {self.username!r} ({state})>"


class Token(Model):
    """A bearer token of a user.

    The token string is ``<prefix><secret>``; only its SHA-256 digest is
    stored, with the prefix (10 characters, unique) to find it by.

    :ivar scopes: The token's scopes, a subset of its user's (canonical
        form).
    :ivar expires_at: When it stops working (``None``: never).
    :ivar revoked: Whether it was revoked.
    """

    __tablename__ = "auth_token"
    __table_args__ = (Index("ix_auth_token_prefix", "prefix", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_user.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="tokens")

    def __repr__(self) -> str:
        return f"<Token {self.prefix}… of user #{self.user_id}>"

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the token has expired (at *now*, default the current
        time)."""
        if self.expires_at is None:
            return False
        return self.expires_at <= (now or utcnow())
