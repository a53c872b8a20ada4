"""Dependencies for the security package's part of the running app's services (app/services.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.security.audit import AuditRepository


async def audit_trail(request: Request) -> AuditRepository:
    audit: AuditRepository = request.app.state.services.audit
    return audit


AuditTrail = Annotated[AuditRepository, Depends(audit_trail)]
