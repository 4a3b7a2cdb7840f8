"""Read an offline W&B run back from its ``run-*.wandb`` file, without syncing it.

Offline runs keep everything in one append-only file: a 7-byte W&B header, then LevelDB-log
framed records (32 KiB blocks; each fragment has a 4-byte checksum, 2-byte length and 1-byte
type), each record a ``wandb_internal_pb2.Record`` protobuf. Tests use this to check what a run
really logged; users can use it to inspect a run on a machine with no network.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER = 7
_BLOCK = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def metric(self, key: str) -> list[Any]:
        """Every logged value of ``key``, in order."""
        return [row[key] for row in self.history if key in row]


def _records(data: bytes):
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file (missing ':W&B' header)")
    pos, pending = _HEADER, b""
    while pos + 7 <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < 7:  # block trailer padding
            pos += room
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield pending + chunk
            pending = b""
        elif kind == 0 and length == 0:
            pos += room - 7  # zero padding up to the next block
        else:
            raise ValueError(f"corrupt W&B run file at byte {pos}")


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def _parse(path: Path) -> list[Any]:
    """Every record of a ``run-*.wandb`` file, as ``wandb_internal_pb2.Record`` protobufs."""
    from wandb.proto import wandb_internal_pb2 as pb

    records = []
    for raw in _records(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records


def _finished(records: list[Any]) -> bool:
    return any(record.WhichOneof("record_type") == "exit" for record in records)


def read_offline_run(run_dir: str | Path, timeout: float = 60.0) -> OfflineRun:
    """Config updates, history rows and summary of the run in ``run_dir`` (``wandb/offline-run-*``).

    A finished run's file ends with an ``exit`` record. W&B's service process writes the file, and
    on a loaded machine it can still be writing for a while after ``run.finish()`` has returned
    (CI once read a finished run with no history rows yet), so this waits up to ``timeout`` seconds
    for the exit record and raises ``TimeoutError`` if it never comes. ``timeout=0`` reads whatever
    a live run has written so far.
    """
    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    deadline = time.monotonic() + timeout
    records = _parse(files[0])
    while timeout > 0 and not _finished(records):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{files[0]} has no exit record after {timeout:.0f} s: the run is still being "
                "written (call run.finish() first) or was killed; pass timeout=0 to read it as it is"
            )
        time.sleep(0.2)
        records = _parse(files[0])
    run = OfflineRun()
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "config":
            for item in record.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            run.history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[_key(item)] = json.loads(item.value_json)
    return run
