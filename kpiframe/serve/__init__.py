"""`kpiframe serve`: the project's metrics over HTTP as JSON (Starlette, served by uvicorn).

GET /v1/metrics, POST /v1/query, GET /v1/status, GET /v1/funnels/{name} and GET /openapi.json; see
docs/http-api.md. `create_app` builds the ASGI application for a loaded project (to mount it in another
ASGI server), `run` serves it.
"""

from kpiframe.serve.http import TOKEN_VARIABLE, create_app, is_loopback, require_token_off_loopback, run

__all__ = ["TOKEN_VARIABLE", "create_app", "is_loopback", "require_token_off_loopback", "run"]
