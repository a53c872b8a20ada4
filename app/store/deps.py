"""Dependencies for the store's parts of the running app's services (app/services.py).

Coroutines on purpose, here and in every deps module: FastAPI runs a plain function in its
thread pool, a thread hop per request to read one attribute.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from app.store.writer import DatabaseWriter


async def database_writer(request: Request) -> DatabaseWriter:
    writer: DatabaseWriter = request.app.state.services.writer
    return writer


async def database_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.services.engine
    return engine


Writer = Annotated[DatabaseWriter, Depends(database_writer)]
Database = Annotated[Engine, Depends(database_engine)]
