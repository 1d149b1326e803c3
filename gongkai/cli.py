"""The `gongkai` command: run the local stack, parse files in-process, talk to a running API."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from gongkai.settings import REPO_ROOT, Settings, get_settings

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
    from workers.pipeline import JobFailure, parse_bytes

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"[red]cannot create {out}: {exc}[/]")
        raise typer.Exit(2) from exc
    failed = 0
    for path in files:
        try:
            parsed = parse_bytes(path.read_bytes())
        except OSError as exc:
            failed += 1
            console.print(f"[red]✗[/] {path}: unreadable ({exc.strerror})")
            continue
        except JobFailure as failure:
            failed += 1
            console.print(f"[red]✗[/] {path}: [red]{failure.code}[/] — {failure.message}")
            continue
        target = out / f"{path.stem}.json"
        target.write_text(json.dumps(parsed.canonical, ensure_ascii=False, indent=1) + "\n")
        c = parsed.canonical
        console.print(
            f"[green]✓[/] {path} → {target}  {c.get('agency')} · {c.get('year')} · format {c.get('format')}"
            f" · needs review: {_review(c)}"
        )
    console.print(f"{len(files) - failed} parsed, {failed} failed")


def _review(canonical: dict[str, Any]) -> str:
    flags = canonical.get("flags") or []
    return f"[yellow]yes ({len(flags)} flags)[/]" if canonical.get("needs_review") else "no"


def _client(settings: Settings) -> httpx.Client:
    return httpx.Client(base_url=settings.client_api_url, timeout=60)


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


@app.command()
def submit(
    files: FilesArg,
    batch: Annotated[
        bool, typer.Option("--batch", help="one batch for all files (ZIP archives are expanded)")
    ] = False,
) -> None:
    """Upload files to the running API; prints one job id per file (or the batch id with --batch)."""
    settings = get_settings()
    try:
        with _client(settings) as client:
            if batch:
                body = _post_files(client, "/v1/batches", files)
                console.print(f"batch {body['id']}")
                for archive in body["archives"]:
                    console.print(f"  archive {archive['filename']} ({archive['size']} bytes): expanding")
            jobs = body["jobs"] if batch else _submit(client, files)
    except httpx.TransportError as exc:
        err.print(f"[red]API not reachable at {settings.client_api_url}: {exc}[/] (run `gongkai up`)")
        raise typer.Exit(1) from exc
    for job in jobs:
        console.print(f"{job['id']}  {job['filename']}")


@app.command()
def status(
    job: Annotated[str, typer.Argument(help="job id")],
    wait: Annotated[bool, typer.Option(help="poll until the job finishes")] = False,
    result: Annotated[bool, typer.Option(help="print the result JSON once it succeeded")] = False,
) -> None:
    """Show a job's state (and, with --result, its parsed report)."""
    settings = get_settings()
    with _client(settings) as client:
        record = _poll(client, [job])[0] if wait else _get_job(client, job)
        console.print_json(data=record)
        if result and record["state"] == "succeeded":
            console.print_json(data=client.get(f"/v1/jobs/{job}/result").json())


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


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


@app.command("batch")
def batch_status(
    batch_id: Annotated[str, typer.Argument(help="batch id (from `gongkai submit --batch`)")],
    wait: Annotated[bool, typer.Option(help="poll until every job of the batch has finished")] = False,
    export: Annotated[ExportFormat | None, typer.Option(help="download the results in this format")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="file for --export (default: stdout)")
    ] = None,
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
            _download(client, f"/v1/batches/{batch_id}/results", {"format": export.value}, out)
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
    with client.stream("GET", path, params=params) as response:
        if response.status_code != 200:
            response.read()
            err.print(f"[red]export failed ({response.status_code}): {response.text}[/]")
            raise typer.Exit(1)
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


def main() -> None:  # pragma: no cover
    sys.exit(app())
