"""`gongkai keys create|list|revoke` as separate processes on the real Redis, and the local stack's
development key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gongkai.settings import Settings
from gongkai.stack import DEV_TENANT, Stack
from storage import JobStore
from storage.apikeys import ApiKeyStore


def gongkai(stack: Stack, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.settings.env()}
    done = subprocess.run(
        [sys.executable, "-m", "gongkai", "keys", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


def test_create_prints_the_key_once_list_shows_ids_revoke_ends_it(services: Stack, jobs: JobStore) -> None:
    keys = ApiKeyStore(jobs.redis)
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    created = gongkai(services, "create", tenant)
    key = created.stdout.strip()  # stdout is the key alone
    record = keys.authenticate(key)
    assert record is not None and record.tenant == tenant
    assert record.key_id in created.stderr

    listed = gongkai(services, "list").stdout
    assert tenant in listed and record.key_id in listed and key not in listed

    gongkai(services, "revoke", record.key_id)
    assert keys.authenticate(key) is None
    assert record.key_id not in gongkai(services, "list").stdout
    gongkai(services, "revoke", record.key_id, ok=False)  # unknown now
    gongkai(services, "create", "Not A Tenant", ok=False)


def test_the_stack_keeps_one_dev_key_and_replaces_it_once_revoked(
    services: Stack, jobs: JobStore, tmp_path: Path
) -> None:
    # The session's data dir holds the dev key the other tests use: this stack gets its own.
    stack = Stack(services.settings.model_copy(update={"data_dir": tmp_path / "var"}))
    keys = ApiKeyStore(jobs.redis)
    key = stack.dev_key()
    record = keys.authenticate(key)
    assert record is not None and record.tenant == DEV_TENANT
    path = stack.settings.dev_key_file
    assert path.read_text().strip() == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack.settings.client_api_key == key  # what the CLI's HTTP client sends
    assert stack.dev_key() == key  # kept across `gongkai up`s

    keys.revoke(record.key_id)
    replaced = stack.dev_key()
    assert replaced != key and keys.authenticate(replaced) is not None
    assert path.read_text().strip() == replaced
    explicit = Settings.model_validate(stack.settings.model_dump() | {"api_key": "gk_explicit"})
    assert explicit.client_api_key == "gk_explicit"  # GONGKAI_API_KEY wins over the file


@pytest.mark.integration
def test_the_cli_sends_the_dev_key_and_says_when_a_key_is_refused(services: Stack) -> None:
    services.up()  # the session's worker and API (already up if integration tests ran)
    env = {**os.environ, **services.settings.env()}

    def status(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gongkai", "status", "0123456789abcdef"],
            env=env | extra, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    with_dev_key = status({})  # no GONGKAI_API_KEY: the dev key file of the stack's data dir
    assert (with_dev_key.returncode, "no job or batch 0123456789abcdef" in with_dev_key.stderr) == (1, True)
    refused = status({"GONGKAI_API_KEY": "gk_" + "x" * 43})
    assert refused.returncode == 1 and "refused the API key" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
