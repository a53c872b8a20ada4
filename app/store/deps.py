"""Dependencies for the store's part of the running app's services (app/services.py).

Coroutines on purpose, here and in every deps module: FastAPI runs a plain function in its
thread pool, a thread hop per request to read one attribute. (The writer reaches the one route
that writes, $triage, inside app.triage.deps.TriageServices.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine


async def database_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.services.engine
    return engine


Database = Annotated[Engine, Depends(database_engine)]
