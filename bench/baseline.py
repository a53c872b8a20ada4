"""The ceiling of the stack (quality.md): a plain FastAPI endpoint that json.loads the same
QuestionnaireResponse body and returns a small JSON. Served with the same uvicorn flags."""

import json

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse({"resourceType": body.get("resourceType"), "ok": True}, status_code=201)
