"""The HTTP API: `uvicorn api.main:app` (OpenAPI at /docs)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.auth import ApiKeyAuth
from api.errors import BodyTooLarge, error_response, install_error_handlers
from api.routes import batches, documents, health, jobs, results
from gongkai.log import configure_logging, get_logger
from gongkai.settings import Settings, get_settings
from storage import BatchStore, JobStore, ObjectStore
from storage.apikeys import ApiKeyStore
from storage.deliveries import DeliveryLog
from workers.celery_app import EXPAND_TASK, TASK_NAME, create_app
from workers.followups import Followups

log = get_logger("gongkai.api")


class BodyLimit:
    """Refuse a request whose body is larger than the upload limit allows: at once when its declared
    length says so, before the multipart parser spools any of it to disk, and otherwise (a chunked
    body has no Content-Length) as soon as the bytes received pass the limit, so an undeclared body
    cannot fill the disk. (Each file is checked again while it is stored.) Batch uploads may carry
    an archive, so their limit is the archive limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, batch_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.batch_max_bytes = batch_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.batch_max_bytes if scope["path"].startswith("/v1/batches") else self.max_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = error_response(413, "request_too_large", f"the request body exceeds {limit} bytes")
            await response(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:  # read outside FastAPI's handlers (none does today)
            if started:
                raise
            response = error_response(413, "request_too_large", exc.detail, {"Connection": "close"})
            await response(scope, receive, send)


def create_api(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        objects = ObjectStore(settings)
        try:
            objects.ensure_buckets()
        except Exception as exc:  # S3 may come up later; /readyz tells
            log.warning("api.buckets_not_ready", error=str(exc))
        celery = create_app(settings)
        app.state.settings = settings
        app.state.jobs = JobStore.from_settings(settings)
        app.state.batches = BatchStore(app.state.jobs.redis, ttl_seconds=settings.job_ttl_seconds)
        app.state.objects = objects
        app.state.apikeys = ApiKeyStore(app.state.jobs.redis)

        def enqueue(job_id: str) -> None:
            # task_id = job id: the broker message and the job record name the same thing.
            celery.send_task(TASK_NAME, args=[job_id], task_id=job_id)

        def enqueue_archive(batch_id: str, archive_id: str) -> None:
            celery.send_task(
                EXPAND_TASK, args=[batch_id, archive_id], task_id=f"expand-{batch_id}-{archive_id}"
            )

        def revoke(task_ids: list[str]) -> None:
            # Best effort: a worker drops a revoked message unrun; the job's state (cancelled, which
            # no attempt starts from) is what guarantees it, so a failed broadcast changes nothing.
            if not task_ids:
                return
            try:
                celery.control.revoke(task_ids)
            except Exception as exc:
                log.warning("api.revoke_failed", jobs=len(task_ids), error=str(exc)[:200])

        app.state.followups = Followups(
            send_task=celery.send_task,
            jobs=app.state.jobs,
            batches=app.state.batches,
            deliveries=DeliveryLog(app.state.jobs.redis, ttl_seconds=settings.job_ttl_seconds),
        )
        app.state.enqueue = enqueue
        app.state.enqueue_archive = enqueue_archive
        app.state.revoke = revoke
        log.info("api.started", redis=settings.redis_url, s3=settings.s3_endpoint)
        yield
        app.state.jobs.redis.close()

    app = FastAPI(
        title="gongkai",
        summary="政府信息公开工作年度报告 → checked structured data",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(documents.router)
    app.include_router(jobs.router)
    app.include_router(batches.router)
    app.include_router(results.router)
    app.include_router(health.router)
    app.include_router(metrics.router)  # no API key: scraped by Prometheus
    # Room for every file at the limit plus multipart overhead.
    max_body = settings.max_upload_bytes * settings.max_files_per_request + 1024 * 1024
    # A batch request: one archive at its limit besides the documents (send big archives one per request).
    batch_body = max_body + settings.max_archive_bytes
    app.add_middleware(BodyLimit, max_bytes=max_body, batch_max_bytes=batch_body)
    # Added last, so outermost: an anonymous request is refused before its body counts for anything.
    app.add_middleware(ApiKeyAuth)
    return app


app = create_api()
# What is loaded by now lives as long as the process: out of the collector's scans. A full pass over
# those ≈ 145k objects takes tens of ms on a busy machine, and stalled a status poll now and then.
gc.freeze()
