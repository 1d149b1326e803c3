"""One typed settings object for every process (API, worker, CLI, local stack).

Values come from the environment (prefix GONGKAI_) or a `.env` file; the local stack passes the same
variables to the processes it starts, so they all agree on ports, keys and buckets.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGKAI_", env_file=".env", extra="ignore")

    # Everything the local stack writes (redis AOF, S3 data, pids, logs) lives under this one folder.
    data_dir: Path = REPO_ROOT / "var"

    redis_url: str = "redis://127.0.0.1:6390/0"

    s3_endpoint: str = "127.0.0.1:9310"  # host:port, as the minio SDK wants it
    s3_secure: bool = False
    s3_access_key: str = "gongkai"
    s3_secret_key: SecretStr = SecretStr("gongkai-secret-key")
    s3_region: str = "us-east-1"
    bucket_originals: str = "gongkai-originals"
    bucket_results: str = "gongkai-results"
    # A presigned URL (GET /v1/jobs/{id}/original?redirect=true) names one object and lives this long.
    presign_seconds: int = Field(default=300, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8310
    # What clients (CLI submit/status/demo) call; defaults to the local API.
    api_url: str | None = None
    # The key those clients send; unset: the local stack's development key (`dev_key_file`).
    api_key: SecretStr | None = None

    max_upload_bytes: int = Field(default=50 * MiB, gt=0)
    max_files_per_request: int = Field(default=20, gt=0)

    # Batches and ZIP archives (POST /v1/batches). An archive is expanded by a worker, member by member,
    # never whole in memory; the caps below are checked against the central directory first and again
    # against the bytes actually decompressed (a header may lie).
    max_archive_bytes: int = Field(default=2048 * MiB, gt=0)  # one uploaded archive, compressed
    archive_max_members: int = Field(default=10_000, gt=0)  # files in one archive (junk not counted)
    archive_max_total_bytes: int = Field(default=16 * 1024 * MiB, gt=0)  # all members, uncompressed
    archive_max_member_bytes: int = Field(default=50 * MiB, gt=0)  # one member, uncompressed
    # Deflate of real reports gains 2-10x; zip bombs gain ~1000x. Small members are exempt (a blank
    # form compresses well and is harmless).
    archive_max_ratio: float = Field(default=100.0, gt=1)
    archive_ratio_min_bytes: int = Field(default=1 * MiB, ge=0)
    batch_page_max: int = Field(default=1000, gt=0)  # jobs per page of GET /v1/batches/{id}

    task_soft_time_limit: int = Field(default=600, gt=0)  # seconds; the pipeline fails the job cleanly
    task_time_limit: int = Field(default=660, gt=0)  # seconds; the child process is killed
    task_max_retries: int = Field(default=5, ge=0)  # for transient storage/broker errors only
    # A job whose worker process died this many times mid-job (redelivered each time) is failed
    # instead of being run again: one poison document must not take the workers down forever.
    task_max_lost_attempts: int = Field(default=2, gt=0)
    worker_concurrency: int = Field(default=2, gt=0)
    # The sweeper (workers/sweeper.py) re-queues jobs and archive expansions left `running` by a
    # worker that died whole (its messages would wait for the broker's visibility timeout): every
    # `sweep_interval_seconds`, whatever started more than task_time_limit + sweep_margin_seconds
    # ago (by then Celery's hard limit has killed any live attempt). Keep the margin under 300 s,
    # the broker's visibility timeout past the time limit, so the sweeper gets there first.
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    sweep_margin_seconds: int = Field(default=60, ge=0, lt=300)
    # The local stack's worker runs the sweeper's beat schedule itself (`celery worker -B`);
    # docker-compose runs a separate `beat` service instead.
    worker_embedded_beat: bool = True
    job_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=0)  # 0: keep job records forever
    # How long a POST's Idempotency-Key is remembered (a retry within it gets the first answer).
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)

    # Downstream pull: the change feed (GET /v1/results) and webhooks (callback_url).
    feed_page_max: int = Field(default=1000, gt=0)  # entries per page of GET /v1/results
    # HMAC-SHA256 key of X-Gongkai-Signature; set your own in production.
    webhook_secret: SecretStr = SecretStr("gongkai-webhook-secret")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Where clients reach the API, e.g. https://gongkai.example.org: webhook payloads then link
    # absolute URLs; empty, they carry paths (relative to the API).
    public_base_url: str = ""
    webhook_max_retries: int = Field(default=8, ge=0)
    webhook_retry_backoff: int = Field(default=2, gt=0)  # seconds; doubles each retry (Celery backoff)
    webhook_retry_backoff_max: int = Field(default=600, gt=0)

    # Legacy Word .doc and Kingsoft .wps uploads converted to .docx by LibreOffice (`soffice` must be
    # on PATH); off: they fail as unsupported_type with a hint to save them as .docx or PDF.
    convert_legacy_word: bool = False

    log_level: str = "INFO"
    log_json: bool = True

    @property
    def running_deadline_seconds(self) -> int:
        return self.task_time_limit + self.sweep_margin_seconds

    @property
    def client_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def dev_key_file(self) -> Path:
        """Where `gongkai up` keeps the development key of tenant "dev" (mode 0600)."""
        return self.data_dir / "dev-api-key"

    @property
    def client_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        try:
            return self.dev_key_file.read_text().strip() or None
        except OSError:
            return None

    def env(self) -> dict[str, str]:
        """These settings as GONGKAI_* environment variables, for child processes."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            out[f"GONGKAI_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
