"""The `gongkai` command: run the local stack, parse files in-process, talk to a running API."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from gongkai.keys_cli import app as keys_app
from gongkai.settings import REPO_ROOT, Settings, get_settings
from gongkai.show import show_batch

app = typer.Typer(help="政府信息公开工作年度报告 → checked structured data.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

FilesArg = Annotated[list[Path], typer.Argument(help="report files (text, PDF, image)", show_default=False)]


def _stack() -> Any:
    from gongkai.stack import Stack

    return Stack(get_settings())


@app.command()
def up() -> None:
    """Start redis, the S3 server, a Celery worker and the API on 127.0.0.1 (data under GONGKAI_DATA_DIR)."""
    from gongkai.stack import SERVICES, StackError

    stack = _stack()
    started = time.monotonic()
    try:
        for name in SERVICES:
            with console.status(f"starting {name}…"):
                stack.start(name)
    except StackError as exc:
        err.print(f"[red]{exc}[/] — see {stack.log_dir}")
        raise typer.Exit(1) from exc
    console.print(f"stack up in {time.monotonic() - started:.1f}s")
    console.print(f"API key of tenant dev: {stack.dev_key()} (in {stack.settings.dev_key_file})")
    _print_status(stack)


@app.command()
def down() -> None:
    """Stop the services `gongkai up` started (SIGTERM, then SIGKILL after a grace period)."""
    stack = _stack()
    stopped = stack.down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def ps() -> None:
    """Show which local services are running."""
    _print_status(_stack())


def _print_status(stack: Any) -> None:
    s: Settings = stack.settings
    where = {"redis": s.redis_url, "s3": f"http://{s.s3_endpoint}", "worker": "", "api": s.client_api_url}
    table = Table("service", "pid", "address", "log")
    for name, pid in stack.status().items():
        table.add_row(name, str(pid) if pid else "[red]stopped[/]", where[name], str(stack.log_file(name)))
    console.print(table)


@app.command()
def parse(
    files: FilesArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for <stem>.json")] = Path("out"),
) -> None:
    """Parse files in-process (no services) and write DIR/<stem>.json in the canonical schema."""
    from workers.pipeline import JobFailure

    gc.freeze()  # the modules just loaded live as long as the process: out of the collector's scans
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"[red]cannot create {out}: {exc}[/]")
        raise typer.Exit(2) from exc
    failed = 0
    for path in files:
        target = out / f"{path.stem}.json"
        try:
            data = path.read_bytes()
        except OSError as exc:
            failed += 1
            console.print(f"[red]✗[/] {path}: unreadable ({exc.strerror})")
            continue
        try:
            c = parse_to_json(data, target)
        except JobFailure as failure:
            failed += 1
            console.print(f"[red]✗[/] {path}: [red]{failure.code}[/] — {failure.message}")
            continue
        console.print(
            f"[green]✓[/] {path} → {target}  {c.get('agency')} · {c.get('year')} · format {c.get('format')}"
            f" · needs review: {_review(c)}"
        )
    console.print(f"{len(files) - failed} parsed, {failed} failed")


def parse_to_json(data: bytes, target: Path) -> dict[str, Any]:
    """What `gongkai parse` does with one file's bytes: parse them in process and write the
    canonical report to `target` (bench/bench_service.py times exactly this)."""
    from workers.pipeline import parse_bytes

    canonical = parse_bytes(data).canonical
    target.write_text(json.dumps(canonical, ensure_ascii=False, indent=1) + "\n")
    return canonical


def _review(canonical: dict[str, Any]) -> str:
    flags = canonical.get("flags") or []
    return f"[yellow]yes ({len(flags)} flags)[/]" if canonical.get("needs_review") else "no"


def _client(settings: Settings) -> httpx.Client:
    key = settings.client_api_key  # GONGKAI_API_KEY, else the dev key `gongkai up` wrote
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def refused(response: httpx.Response) -> None:
        if response.status_code == 401:
            what = "refused the API key" if key else "wants an API key"
            err.print(
                f"[red]the API {what}[/]: set GONGKAI_API_KEY to a key from `gongkai keys create`,"
                f" or run `gongkai up` (it writes the dev key to {settings.dev_key_file})"
            )
            raise typer.Exit(1)

    return httpx.Client(
        base_url=settings.client_api_url, timeout=60, headers=headers, event_hooks={"response": [refused]}
    )


def _post_files(client: httpx.Client, path: str, files: list[Path]) -> dict[str, Any]:
    handles = [file.open("rb") for file in files]
    try:
        parts = [("files", (file.name, fh)) for file, fh in zip(files, handles, strict=True)]
        response = client.post(path, files=parts)
    finally:
        for fh in handles:
            fh.close()
    if response.status_code != 202:
        err.print(f"[red]upload refused ({response.status_code}): {response.text}[/]")
        raise typer.Exit(1)
    body: dict[str, Any] = response.json()
    return body


def _submit(client: httpx.Client, files: list[Path]) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = _post_files(client, "/v1/documents", files)["jobs"]
    return jobs


PathsArg = Annotated[
    list[Path],
    typer.Argument(help="report files, folders (read recursively) and ZIP archives", show_default=False),
]


@app.command()
def submit(
    paths: PathsArg,
    wait: Annotated[bool, typer.Option(help="follow the batch until every job has finished")] = False,
    force: Annotated[
        bool, typer.Option(help="process again even files whose bytes were processed before")
    ] = False,
    batch: Annotated[bool, typer.Option("--batch", hidden=True, help="(always one batch now)")] = True,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Upload files, folders and archives as ONE batch; prints the batch id and each job.

    Files are streamed from disk (an archive is never read into memory). More files than one request
    may carry are packed, uncompressed, into a ZIP on disk, which the service expands."""
    settings = get_settings()
    uploads = upload_plan(paths)
    if not uploads:
        err.print("[red]no files to upload[/]")
        raise typer.Exit(2)
    try:
        with _client(settings) as client, contextlib.ExitStack() as cleanup:
            parts = _pack_if_needed(uploads, settings.max_files_per_request, cleanup)
            body = _post_batch(client, parts, force)
            console.print(f"batch {body['id']}")
            for archive in body["archives"]:
                console.print(f"  archive {archive['filename']} ({archive['size']} bytes): expanding")
            for job in body["jobs"]:
                duplicate = f"  (duplicate of {job['duplicate_of']})" if job.get("duplicate_of") else ""
                console.print(f"{job['id']}  {job['filename']}{duplicate}")
            if wait:
                _show_batch(client, _follow_batch(client, body["id"], timeout))
    except httpx.TransportError as exc:
        err.print(f"[red]API not reachable at {settings.client_api_url}: {exc}[/] (run `gongkai up`)")
        raise typer.Exit(1) from exc


@dataclass(frozen=True)
class Upload:
    path: Path
    name: str  # the name the service records: the path below the folder given, with the folder's name
    archive: bool


def upload_plan(paths: list[Path]) -> list[Upload]:
    """Every file to send: files as given, folders walked recursively (OS junk and hidden files left out)."""
    from storage.archives import is_archive, is_junk

    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            base = path.resolve()
            for file in sorted(p for p in base.rglob("*") if p.is_file()):
                name = file.relative_to(base.parent).as_posix()
                if not is_junk(file.relative_to(base).as_posix()):
                    found.append((file, name))
        elif path.is_file():
            found.append((path, path.name))
        else:
            err.print(f"[red]{path}: no such file or folder[/]")
            raise typer.Exit(2)
    plan = []
    for file, name in found:
        with file.open("rb") as fh:
            plan.append(Upload(file, name, is_archive(fh)))
    return plan


def _pack_if_needed(uploads: list[Upload], max_files: int, cleanup: contextlib.ExitStack) -> list[Upload]:
    """The uploads as at most `max_files` parts: the documents into one ZIP if there are too many."""
    if len(uploads) <= max_files:
        return uploads
    archives = [u for u in uploads if u.archive]
    documents = [u for u in uploads if not u.archive]
    if len(archives) + 1 > max_files:
        err.print(f"[red]{len(archives)} archives: send at most {max_files - 1} per batch[/]")
        raise typer.Exit(2)
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gongkai-")))
    packed = folder / "files.zip"
    # stored, not deflated: reports in PDF/images do not shrink, and text is small anyway
    with (
        err.status(f"packing {len(documents)} files into one archive…"),
        zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf,
    ):
        for upload in documents:
            zf.write(upload.path, arcname=upload.name)
    return [*archives, Upload(packed, packed.name, archive=True)]


class _Reading:
    """A file for httpx's multipart body that reports how far it has been read."""

    def __init__(self, fh: BinaryIO, moved: Callable[[], None]) -> None:
        self._fh = fh
        self._moved = moved

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size)
        self._moved()
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        return self._fh.fileno()


def _post_batch(client: httpx.Client, uploads: list[Upload], force: bool) -> dict[str, Any]:
    total = sum(u.path.stat().st_size for u in uploads)
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with contextlib.ExitStack() as files, Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("upload", total=total)
        handles = [files.enter_context(u.path.open("rb")) for u in uploads]

        def moved() -> None:
            progress.update(task, completed=sum(fh.tell() for fh in handles))

        parts = [("files", (u.name, _Reading(fh, moved))) for u, fh in zip(uploads, handles, strict=True)]
        # The body is streamed from the files in chunks; a big archive can take a while to send.
        response = client.post(
            "/v1/batches",
            files=parts,  # type: ignore[arg-type]  # any object with read() is streamed
            data={"force": "true"} if force else None,
            timeout=httpx.Timeout(60, write=600),
        )
    if response.status_code != 202:
        err.print(f"[red]upload refused ({response.status_code}): {response.text}[/]")
        raise typer.Exit(1)
    body: dict[str, Any] = response.json()
    return body


def _follow_batch(client: httpx.Client, batch_id: str, timeout: float) -> dict[str, Any]:
    """Poll the batch with a live progress bar until it has finished (or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(f"batch {batch_id[:8]}", total=None, detail="")
        while True:
            batch = _fetch(client, f"/v1/batches/{batch_id}", {"limit": 0})
            if batch is None:
                err.print(f"[red]no batch {batch_id}[/]")
                raise typer.Exit(1)
            c = batch["counts"]
            detail = f"{c['running']} running, {c['failed']} failed"
            if batch["archives_pending"]:
                detail += f", {batch['archives_pending']} archives expanding"
            progress.update(task, total=batch["total"], completed=c["succeeded"] + c["failed"], detail=detail)
            if batch["finished"]:
                return batch
            if time.monotonic() > deadline:
                err.print(f"[yellow]still running after {timeout:.0f}s[/]")
                return batch
            time.sleep(0.5)


def _batch_jobs(client: httpx.Client, batch_id: str) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        page = _fetch(client, f"/v1/batches/{batch_id}", {"offset": offset, "limit": 1000})
        if page is None or not page["jobs"]:
            return
        yield from page["jobs"]
        offset += len(page["jobs"])


def _show_batch(client: httpx.Client, batch: dict[str, Any]) -> None:
    failed: list[dict[str, Any]] = []
    duplicates = review = 0
    for job in _batch_jobs(client, batch["id"]):
        failed += [job] if job["state"] == "failed" else []
        duplicates += bool(job.get("duplicate_of"))
        review += bool(job.get("needs_review"))
    show_batch(console, batch, failed, duplicates=duplicates, needs_review=review)


@app.command()
def status(
    id_: Annotated[str, typer.Argument(metavar="ID", help="a job id or a batch id")],
    wait: Annotated[bool, typer.Option(help="poll until the job or batch has finished")] = False,
    result: Annotated[bool, typer.Option(help="print a job's result JSON once it succeeded")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Show a job's state (with --result, its parsed report) or a batch's progress and failures."""
    settings = get_settings()
    try:
        with _client(settings) as client:
            record = _fetch(client, f"/v1/jobs/{id_}")
            if record is None:
                if _fetch(client, f"/v1/batches/{id_}", {"limit": 0}) is None:
                    err.print(f"[red]no job or batch {id_}[/]")
                    raise typer.Exit(1)
                batch = _follow_batch(client, id_, timeout) if wait else _fetch(client, f"/v1/batches/{id_}")
                _show_batch(client, batch or {})
                return
            if wait:
                record = _poll(client, [id_], timeout)[0]
            console.print_json(data=record)
            if result and record["state"] == "succeeded":
                console.print_json(data=client.get(f"/v1/jobs/{id_}/result").json())
    except httpx.TransportError as exc:
        err.print(f"[red]API not reachable at {settings.client_api_url}: {exc}[/] (run `gongkai up`)")
        raise typer.Exit(1) from exc


def _fetch(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """GET a job or batch: its JSON, or None when there is no such id."""
    response = client.get(path, params=params)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _get_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}")
    if response.status_code == 404:
        err.print(f"[red]no job {job_id}[/]")
        raise typer.Exit(1)
    response.raise_for_status()
    record: dict[str, Any] = response.json()
    return record


_FINISHED = ("succeeded", "failed", "cancelled")


def _poll(client: httpx.Client, job_ids: list[str], timeout: float = 600) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    records: dict[str, dict[str, Any]] = {}
    while True:
        for job_id in job_ids:
            if job_id not in records or records[job_id]["state"] not in _FINISHED:
                records[job_id] = _get_job(client, job_id)
        if all(r["state"] in _FINISHED for r in records.values()) or time.monotonic() > deadline:
            return [records[j] for j in job_ids]
        time.sleep(0.3)


class ExportFileFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"
    xlsx = "xlsx"


class ExportTable(StrEnum):
    long = "long"  # a row per report × row of table 三
    wide = "wide"  # a row per report, a column per field


TableOption = Annotated[
    ExportTable, typer.Option("--table", help="csv/parquet: long or wide (xlsx has both as sheets)")
]


@app.command("export")
def export_batch(
    batch_id: Annotated[str, typer.Argument(help="batch id (from `gongkai submit`)")],
    format_: Annotated[ExportFileFormat, typer.Option("--format", "-f", help="the file format")] = (
        ExportFileFormat.csv
    ),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write (default: stdout)")] = None,
    table: TableOption = ExportTable.long,
    wait: Annotated[bool, typer.Option(help="wait for the batch to finish first")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Download every result of a finished batch as CSV, JSONL, Parquet or XLSX."""
    settings = get_settings()
    try:
        with _client(settings) as client:
            if wait:
                _follow_batch(client, batch_id, timeout)
            params = {"format": format_.value, "table": table.value}
            _download(client, f"/v1/batches/{batch_id}/export", params, out)
    except httpx.TransportError as exc:
        err.print(f"[red]API not reachable at {settings.client_api_url}: {exc}[/] (run `gongkai up`)")
        raise typer.Exit(1) from exc


@app.command("batch")
def batch_status(
    batch_id: Annotated[str, typer.Argument(help="batch id (from `gongkai submit --batch`)")],
    wait: Annotated[bool, typer.Option(help="poll until every job of the batch has finished")] = False,
    export: Annotated[
        ExportFileFormat | None, typer.Option(help="download the results in this format")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="file for --export (default: stdout)")
    ] = None,
    table: TableOption = ExportTable.wide,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Show a batch's progress; with --wait, wait for it; with --export, download its results."""
    settings = get_settings()
    try:
        with _client(settings) as client:
            batch = _poll_batch(client, batch_id, timeout) if wait else _get_batch(client, batch_id)
            counts = batch["counts"]
            summary = " · ".join(f"{state} {n}" for state, n in counts.items())
            state = "finished" if batch["finished"] else f"{batch['progress']:.0%} done"
            err.print(f"batch {batch_id}: {state}, {batch['total']} jobs ({summary})")
            for archive in batch["archives"]:
                error = (
                    f" — {archive['error']['code']}: {archive['error']['message']}"
                    if archive["error"]
                    else ""
                )
                err.print(f"  archive {archive['filename']}: {archive['state']}{error}")
            if export is None:
                console.print_json(data=batch)
                return
            if not batch["finished"]:
                err.print("[red]the batch has not finished; add --wait[/]")
                raise typer.Exit(1)
            params = {"format": export.value, "table": table.value}
            _download(client, f"/v1/batches/{batch_id}/export", params, out)
    except httpx.TransportError as exc:
        err.print(f"[red]API not reachable at {settings.client_api_url}: {exc}[/] (run `gongkai up`)")
        raise typer.Exit(1) from exc


def _get_batch(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/batches/{batch_id}", params={"limit": 1000})
    if response.status_code == 404:
        err.print(f"[red]no batch {batch_id}[/]")
        raise typer.Exit(1)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _poll_batch(client: httpx.Client, batch_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with err.status("waiting…") as status:
        while True:
            batch = _get_batch(client, batch_id)
            if batch["finished"] or time.monotonic() > deadline:
                return batch
            c = batch["counts"]
            status.update(
                f"{c['succeeded'] + c['failed']}/{batch['total']} done ({c['running']} running, "
                f"{batch['archives_pending']} archives expanding)"
            )
            time.sleep(1.0)


def _download(client: httpx.Client, path: str, params: dict[str, str], out: Path | None) -> None:
    """Stream `path` to `out` (or stdout)."""
    with client.stream("GET", path, params=params) as response:
        if response.status_code != 200:
            response.read()
            err.print(f"[red]export failed ({response.status_code}): {response.text}[/]")
            raise typer.Exit(1)
        _write(response, out)


def _write(response: httpx.Response, out: Path | None) -> None:
    if out is None:
        for chunk in response.iter_bytes():
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    with out.open("wb") as fh:
        for chunk in response.iter_bytes():
            fh.write(chunk)
    err.print(f"wrote {out} ({out.stat().st_size} bytes)")


@app.command()
def demo(
    files: Annotated[list[Path] | None, typer.Argument(help="files to upload (default: examples/*)")] = None,
) -> None:
    """Start the stack, upload the example reports, wait, and show what was read and checked."""
    from gongkai.show import show_failure, show_result

    files = files or sorted(
        p for p in (REPO_ROOT / "examples").iterdir() if p.is_file() and not p.name.endswith(".truth.json")
    )
    if not files:
        err.print("[red]no files to upload[/]")
        raise typer.Exit(1)
    up()
    settings = get_settings()
    with _client(settings) as client:
        started = time.monotonic()
        jobs = _submit(client, files)
        console.print(f"uploaded {len(jobs)} files; waiting for the worker…")
        records = _poll(client, [j["id"] for j in jobs])
        console.print(f"all jobs finished in {time.monotonic() - started:.1f}s\n")
        for record in records:
            if record["state"] == "succeeded":
                show_result(console, client.get(f"/v1/jobs/{record['id']}/result").json())
            else:
                show_failure(console, record)
    console.print(f"API docs: {settings.client_api_url}/docs — stop the stack with `gongkai down`")


app.add_typer(keys_app, name="keys")


def main() -> None:  # pragma: no cover
    sys.exit(app())
