"""The models of the tasks app.

After changing them, run ``python manage.py makemigrations tasks`` and
``python manage.py migrate`` (from the repository root).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from findig.project.db import Model

__all__ = ["TITLE_MAX_LENGTH", "Task", "utcnow"]

#: The longest title, in characters.
TITLE_MAX_LENGTH = 150


def utcnow() -> datetime:
    """The current time in UTC, without time zone (as the columns store it).

    :returns: A naive :class:`~datetime.datetime`.
    """
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Task(Model):
    """One task of one user.

    Dates and times are stored in UTC, without a time zone: a due date sent
    with an offset (``2015-07-19T00:00:00+04:00``) is stored, and shown, as
    the same instant in UTC (``2015-07-18T20:00:00``).
    """

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    desc: Mapped[str | None] = mapped_column(Text)
    due: Mapped[datetime]
    done: Mapped[bool] = mapped_column(default=False)
    # The (normalised) name of the user who created the task; only they see it.
    owner: Mapped[str] = mapped_column(String(150), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
