"""Newest-first keyset paging, shared by every search: a page costs the same however deep
it is, and rows arriving meanwhile do not shift the pages already handed out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Row, and_, func, or_, select, true


def newest_first(
    connection: Connection,
    table: Any,
    columns: list[Any],
    when: Column,
    key: Column,
    conditions: list[Any],
    after: tuple[datetime, str] | None,
    count: int,
) -> tuple[Sequence[Row[*tuple[Any, ...]]], int, tuple[datetime, str] | None]:
    """Up to `count` rows after the cursor, the total matching, and the cursor of the next
    page (None on the last one). `columns` are selected in front of `when` and `key`."""
    page_conditions = list(conditions)
    if after is not None:
        page_conditions.append(or_(when < after[0], and_(when == after[0], key < after[1])))
    page = (
        select(*columns, when, key)
        .where(and_(true(), *page_conditions))
        .order_by(when.desc(), key.desc())
        .limit(count + 1)
    )
    rows = connection.execute(page).all()
    total = connection.execute(select(func.count()).select_from(table).where(and_(true(), *conditions))).scalar_one()
    more = len(rows) > count
    rows = rows[:count]
    return rows, total, ((rows[-1][-2], rows[-1][-1]) if more and rows else None)
