"""Liveness (the process answers) and readiness (Redis and S3 answer; which one does not, and why)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import JobsDep, ObjectsDep
from api.errors import OUTAGE_RETRY_AFTER
from api.schemas import Health
from storage.jobs import JobStore
from storage.objects import ObjectStore

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


def _check(jobs: JobStore, objects: ObjectStore) -> dict[str, str]:
    checks: dict[str, str] = {}
    for name, ping in (("redis", jobs.ping), ("s3", objects.ping)):
        try:
            ping()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            checks[name] = f"{type(exc).__name__}: {exc}"[:200]
    return checks


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(jobs: JobsDep, objects: ObjectsDep) -> Health | JSONResponse:
    checks = await run_in_threadpool(_check, jobs, objects)
    if all(v == "ok" for v in checks.values()):
        return Health(status="ok", checks=checks)
    return JSONResponse(
        Health(status="unavailable", checks=checks).model_dump(),
        status_code=503,
        headers={"Retry-After": OUTAGE_RETRY_AFTER},
    )
