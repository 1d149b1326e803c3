"""Legacy Word binaries (.doc, Kingsoft .wps) → .docx through LibreOffice, when it is installed and
the deployment turns it on (Settings.convert_legacy_word; off by default: LibreOffice is large and a
conversion costs seconds). The converted file is then read like any .docx upload.

LibreOffice runs headless in a throw-away directory with its own profile (two conversions at once
would otherwise fight over the user profile lock), time-limited, its whole process group killed on
timeout (soffice forks a child that outlives a plain kill).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from extract.errors import ExtractionError, ExtractionErrorCode
from extract.sniff import MSWORD, WPS

# The suffix LibreOffice picks its import filter by.
_SUFFIX = {MSWORD: ".doc", WPS: ".wps"}
_NAMES = {MSWORD: "legacy Word (.doc)", WPS: "Kingsoft WPS Writer (.wps)"}
SOFFICE_COMMANDS = ("soffice", "libreoffice")


def find_soffice() -> str | None:
    """The LibreOffice command on PATH, if any."""
    return next((found for name in SOFFICE_COMMANDS if (found := shutil.which(name))), None)


def convertible(media_type: str) -> bool:
    return media_type in _SUFFIX


def convert_to_docx(data: bytes, media_type: str, *, timeout_s: float) -> bytes:
    """The bytes of a .doc/.wps file converted to .docx; raises `ExtractionError`."""
    name = _NAMES[media_type]
    soffice = find_soffice()
    if soffice is None:
        raise ExtractionError(
            ExtractionErrorCode.UNSUPPORTED_TYPE,
            f"unsupported file type ({media_type}): conversion of {name} files is enabled"
            " (GONGKAI_CONVERT_LEGACY_WORD) but LibreOffice is not installed (no soffice on PATH);"
            " install LibreOffice, or save the file as .docx or PDF and upload that",
        )
    with tempfile.TemporaryDirectory(prefix="gongkai-soffice-") as tmp:
        work = Path(tmp)
        source = work / f"input{_SUFFIX[media_type]}"
        source.write_bytes(data)
        cmd = [
            soffice,
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            "docx",
            "--outdir",
            str(work / "out"),
            str(source),
        ]
        detail = _run(cmd, timeout_s, home=work)
        converted = work / "out" / "input.docx"
        if not converted.is_file() or converted.stat().st_size == 0:
            raise ExtractionError(
                ExtractionErrorCode.CORRUPT_FILE,
                f"LibreOffice could not convert the {name} file to .docx ({detail or 'no output'})",
            )
        return converted.read_bytes()


def _run(cmd: list[str], timeout_s: float, *, home: Path) -> str:
    """Run soffice; its last output line (why it failed, when it did)."""
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so a timeout kills the forked child too
        env={**os.environ, "HOME": str(home)},  # it writes caches under $HOME; keep them in the temp dir
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            _kill(proc)
            raise ExtractionError(
                ExtractionErrorCode.CORRUPT_FILE,
                f"LibreOffice did not finish converting the file within {timeout_s:g} s",
            ) from exc
        except BaseException:
            _kill(proc)  # the task's own time limit or a shutdown: no soffice left behind
            raise
    lines = out.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else ""


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended in the meantime
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
