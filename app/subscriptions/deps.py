"""Dependencies for the subscriptions feature's part of the running app's services (app/services.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.subscriptions.outbound import OutboundPolicy
from app.subscriptions.store import SubscriptionRepository


async def subscription_repository(request: Request) -> SubscriptionRepository:
    repository: SubscriptionRepository = request.app.state.services.subscriptions
    return repository


async def outbound_policy(request: Request) -> OutboundPolicy:
    policy: OutboundPolicy = request.app.state.services.outbound_policy
    return policy


Subscriptions = Annotated[SubscriptionRepository, Depends(subscription_repository)]
Outbound = Annotated[OutboundPolicy, Depends(outbound_policy)]
