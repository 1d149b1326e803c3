"""FastAPI dependencies as Annotated aliases; the clients live on `app.state`, made in the lifespan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from gongkai.settings import Settings
from storage import BatchStore, JobStore, ObjectStore
from workers.followups import Followups

Enqueue = Callable[[str], None]
EnqueueArchive = Callable[[str, str], None]  # batch id, archive id
Revoke = Callable[[list[str]], None]  # task ids (= job ids) whose queued messages are to be dropped


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _jobs(request: Request) -> JobStore:
    jobs: JobStore = request.app.state.jobs
    return jobs


def _objects(request: Request) -> ObjectStore:
    objects: ObjectStore = request.app.state.objects
    return objects


def _batches(request: Request) -> BatchStore:
    batches: BatchStore = request.app.state.batches
    return batches


def _enqueue_archive(request: Request) -> EnqueueArchive:
    enqueue: EnqueueArchive = request.app.state.enqueue_archive
    return enqueue


def _enqueue(request: Request) -> Enqueue:
    enqueue: Enqueue = request.app.state.enqueue
    return enqueue


def _followups(request: Request) -> Followups:
    followups: Followups = request.app.state.followups
    return followups


def _revoke(request: Request) -> Revoke:
    revoke: Revoke = request.app.state.revoke
    return revoke


SettingsDep = Annotated[Settings, Depends(_settings)]
JobsDep = Annotated[JobStore, Depends(_jobs)]
ObjectsDep = Annotated[ObjectStore, Depends(_objects)]
EnqueueDep = Annotated[Enqueue, Depends(_enqueue)]
BatchesDep = Annotated[BatchStore, Depends(_batches)]
EnqueueArchiveDep = Annotated[EnqueueArchive, Depends(_enqueue_archive)]
RevokeDep = Annotated[Revoke, Depends(_revoke)]
# A job finished in the API (a duplicate, a cancel): its webhook, its batch's exports.
FollowupsDep = Annotated[Followups, Depends(_followups)]
