"""The ceiling of the stack (quality.md): a plain FastAPI endpoint that json.loads the same
QuestionnaireResponse body and returns a small JSON. Served by uvicorn as the service is
(`python -m bench.baseline --port P --workers N`): with several workers, a listening socket per
worker (app/kit/workers.py), as `lbp-triage serve` gives the service."""

import argparse
import json

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse({"resourceType": body.get("resourceType"), "ok": True}, status_code=201)


def main() -> None:
    from app.kit.workers import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serve("bench.baseline:app", host=args.host, port=args.port, workers=args.workers, access_log=False)


if __name__ == "__main__":
    main()
