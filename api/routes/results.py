"""GET /v1/results: the change feed of finished jobs (succeeded and failed), across batches and
single uploads, paged by an opaque cursor; and GET /v1/jobs/{id}/deliveries (a job's webhook calls)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.deps import JobsDep, SettingsDep
from api.errors import ApiError, ErrorResponse
from api.routes.jobs import _load as load_job
from api.schemas import Deliveries, Delivery, FeedPage, FeedResult
from storage import JobState
from storage.deliveries import DeliveryLog
from storage.feed import BadCursor, Feed

router = APIRouter(tags=["results"])

DEFAULT_LIMIT = 100
_400: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}}


@router.get(
    "/v1/results",
    response_model=FeedPage,
    responses=_400,
    summary="Finished jobs in the order they finished; poll with `since=<next>` to read each exactly once",
)
async def get_results_feed(
    request: Request,
    settings: SettingsDep,
    jobs: JobsDep,
    tenant: TenantDep,
    since: Annotated[str | None, Query(description="the `next` cursor of the previous answer")] = None,
    limit: Annotated[int, Query(ge=1, description="entries per page")] = DEFAULT_LIMIT,
) -> FeedPage:
    feed = Feed(jobs.redis)
    try:
        page = await run_in_threadpool(feed.read, since, min(limit, settings.feed_page_max), tenant)
    except BadCursor:
        raise ApiError(400, "bad_cursor", "`since` is not a cursor this feed gave out") from None
    return FeedPage(
        results=[
            FeedResult(
                **e.model_dump(),
                result=f"/v1/jobs/{e.job_id}/result" if e.state == JobState.SUCCEEDED else None,
            )
            for e in page.results
        ],
        next=page.next,
    )


@router.get(
    "/v1/jobs/{job_id}/deliveries",
    response_model=Deliveries,
    responses={404: {"model": ErrorResponse}},
    summary="Every attempt to call the job's callback_url",
)
async def get_job_deliveries(job_id: str, jobs: JobsDep, tenant: TenantDep) -> Deliveries:
    job = await load_job(jobs, job_id, tenant)
    log = DeliveryLog(jobs.redis)
    attempts = await run_in_threadpool(log.list, "job", job_id)
    return Deliveries(callback_url=job.callback_url, deliveries=[Delivery(**a) for a in attempts])
