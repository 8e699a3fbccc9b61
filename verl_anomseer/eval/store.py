"""Per-sample JSONL store: append + flush + fsync per record, resumable, tolerant of a torn last line.

A crash can only tear the line being written, so on open the store drops an incomplete last line
(and only the last: a bad line in the middle is corruption and raises). Records are keyed by
``(series_id, seed)``; a rerun skips the keys already present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from verl_anomseer.eval.errors import EvalSetupError


def record_key(record: dict) -> tuple[str, int]:
    return str(record["series_id"]), int(record["seed"])


def read_records(path: str | os.PathLike) -> tuple[list[dict], bool]:
    """The complete records of ``path``, and whether an unterminated (torn) last line was dropped.

    Every newline-terminated line must be JSON (else the file is corrupt and this raises); the text after
    the last newline is a record only if it parses, otherwise it is the torn tail of an interrupted write.
    """
    path = Path(path)
    if not path.exists():
        return [], False
    *lines, tail = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EvalSetupError(
                f"{path}: line {number} is not JSON ({exc}); the file is corrupt, move it away to start over"
            ) from exc
    if not tail.strip():
        return records, False
    try:
        records.append(json.loads(tail))
        return records, False
    except (json.JSONDecodeError, UnicodeDecodeError):
        return records, True


class PredictionStore:
    """Append-only JSONL of scored samples under ``path``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records, torn = read_records(self.path)
        if self.path.exists():  # cut a torn tail (or end a complete last line) so appends start a fresh line
            data = self.path.read_bytes()
            if torn or (data and not data.endswith(b"\n")):
                with open(self.path, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1 if torn else len(data))
                    if not torn:
                        fh.seek(0, os.SEEK_END)
                        fh.write(b"\n")
        self.done = {record_key(r) for r in self.records}

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.records.append(record)
        self.done.add(record_key(record))
