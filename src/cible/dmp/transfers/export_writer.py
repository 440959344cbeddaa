"""The one file writer every batch export engine hands its rows to.

Rows (``cible.dmp.transfers.export_engine.ExportRow``, sorted) are rendered with the
destination's content template, split into files of at most ``max_lines`` lines and
``max_bytes`` uncompressed bytes, gzipped with a zero mtime and no stored name (so the same rows
give the same bytes whatever the day), and written through an fsspec file system under
temporary names (``.<run key>.<n>.part``). Only when every file is complete are they renamed to
the names the file-name template gives (``SPLITNUM`` empty for a single file, else ``001``,
``002``, ...; Adobe Audience Manager, "Outbound file name and content") and the ``.info``
transfer-control file written last ("Transfer control files for audience data files"), with
each file's ``FileByteSize``, ``FileLineCount``, ``FileName``, ``FileSequenceNumber`` and
``md5`` and the ``Totals``. A partner that sees the ``.info`` file sees complete files. A run
started again rewrites its temporary files from the start and renames them over whatever an
earlier attempt left: the result is the same files.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cible.dmp.transfers.export_engine import ExportRow
from cible.dmp.transfers.export_template import (
    NAME_MACROS,
    Context,
    compile_template,
    render,
    uses,
)

DEFAULT_NAME = "<SYNC_TYPE>_<ORDER_ID>_<SYNC_MODE>_<TIMESTAMP><SPLITNUM>.sync"
DEFAULT_CONTENT = '<UUID> <SEGMENT_LIST;separator=","> <REMOVED_SEGMENT_LIST;separator=",">'
_FLUSH = 256 * 1024


@dataclass(frozen=True)
class FileFormat:
    """How a destination's files look; ``scalars`` are the name and row macros' values
    (``TIMESTAMP`` the run's scheduled time in milliseconds, ``SYNC_MODE``, ``ORDER_ID`` ...)."""

    name_template: str = DEFAULT_NAME
    content_template: str = DEFAULT_CONTENT
    gzip: bool = True
    max_lines: int = 0  # 0: no limit
    max_bytes: int = 0  # uncompressed; 0: no limit
    dpid: int | None = None  # the data source whose declared ids are DP_UUID / DP_UUID_LIST
    aliases: dict[int, str] = field(default_factory=dict)
    scalars: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WrittenFile:
    name: str
    sequence: int
    bytes: int
    lines: int
    md5: str

    def to_json(self) -> dict[str, Any]:
        return {
            "FileByteSize": self.bytes,
            "FileLineCount": self.lines,
            "FileName": self.name,
            "FileSequenceNumber": self.sequence,
            "md5": self.md5,
        }


@dataclass(frozen=True)
class Manifest:
    info_name: str
    total_name: str
    files: tuple[WrittenFile, ...]
    skipped: int  # rows without the declared id the template needs

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "Files": [f.to_json() for f in self.files],
            "Totals": {
                "FileName": self.total_name,
                "TotalByteSize": sum(f.bytes for f in self.files),
                "TotalNumberFiles": len(self.files),
                "TotalNumberLines": self.lines,
            },
        }


class _Sink:
    """Counts and hashes the bytes written to the file system's file object."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.md5 = hashlib.md5()  # noqa: S324 - AAM's manifest names md5, not for security
        self.size = 0

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


class _Part:
    def __init__(self, fs: Any, path: str, compress: bool) -> None:
        self.raw = fs.open(path, "wb")
        self.sink = _Sink(self.raw)
        self.out: Any = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self.sink, mtime=0, compresslevel=6)
            if compress
            else self.sink
        )
        self.lines = 0
        self.bytes = 0
        self.buffer: list[bytes] = []
        self.buffered = 0

    def add(self, line: bytes) -> None:
        self.buffer.append(line)
        self.buffered += len(line)
        self.lines += 1
        self.bytes += len(line)
        if self.buffered >= _FLUSH:
            self._drain()

    def _drain(self) -> None:
        if self.buffer:
            self.out.write(b"".join(self.buffer))
            self.buffer, self.buffered = [], 0

    def close(self) -> tuple[int, str]:
        self._drain()
        if self.out is not self.sink:
            self.out.close()
        self.raw.close()
        return self.sink.size, self.sink.md5.hexdigest()


class FileWriter:
    """Writes one run's files into ``folder`` of the fsspec file system ``fs``.

    >>> manifest = FileWriter(fs, "/out", FileFormat(scalars=...), "run-7").write(rows)
    """

    def __init__(self, fs: Any, folder: str, fmt: FileFormat, run_key: str) -> None:
        self.fs = fs
        self.folder = folder.rstrip("/") or "/"
        self.fmt = fmt
        self.run_key = run_key
        self.content = compile_template(fmt.content_template)
        self.name = compile_template(fmt.name_template, macros=NAME_MACROS)
        self.needs_id = uses(fmt.content_template, "DP_UUID", "DP_UUID_LIST")

    def _path(self, name: str) -> str:
        return posixpath.join(self.folder, name)

    def _temp(self, n: int) -> str:
        return self._path(f".{self.run_key}.{n}.part")

    def render_line(self, row: ExportRow) -> bytes | None:
        """The row's line, or None when the template needs a declared id the row lacks."""
        dpid = self.fmt.dpid
        ids = [x for d, x in row.ids if d == dpid] if dpid is not None else []
        if self.needs_id and not ids:
            return None
        ctx = Context(
            row.uuid,
            {**self.fmt.scalars, "DP_UUID": ids[0]} if ids else self.fmt.scalars,
            {
                "SEGMENT_LIST": row.segments,
                "REMOVED_SEGMENT_LIST": row.removed,
                "DP_UUID_LIST": ids,
            },
            {},
            self.fmt.aliases,
        )
        return (render(self.content, ctx) + "\n").encode()

    def write(
        self, rows: Iterable[ExportRow], progress: Callable[[int], None] | None = None
    ) -> Manifest:
        self.fs.makedirs(self.folder, exist_ok=True)
        for stale in self.fs.glob(self._path(f".{self.run_key}.*.part")):
            self.fs.rm(stale)  # an earlier attempt's; this one starts again from its first file
        done: list[tuple[str, int, int, str]] = []  # temp path, lines, bytes, md5
        part = _Part(self.fs, self._temp(1), self.fmt.gzip)
        skipped = seen = 0
        limit_lines, limit_bytes = self.fmt.max_lines, self.fmt.max_bytes
        for row in rows:
            seen += 1
            line = self.render_line(row)
            if line is None:
                skipped += 1
            else:
                full = (limit_lines and part.lines >= limit_lines) or (
                    limit_bytes and part.lines and part.bytes + len(line) > limit_bytes
                )
                if full:
                    size, md5 = part.close()
                    done.append((self._temp(len(done) + 1), part.lines, size, md5))
                    part = _Part(self.fs, self._temp(len(done) + 1), self.fmt.gzip)
                part.add(line)
            if progress is not None and seen % 10_000 == 0:
                progress(seen)
        size, md5 = part.close()
        done.append((self._temp(len(done) + 1), part.lines, size, md5))
        if progress is not None:
            progress(seen)
        return self._publish(done, skipped)

    def _name(self, split: str) -> str:
        return render(self.name, Context(scalars={**self.fmt.scalars, "SPLITNUM": split}))

    def _publish(self, done: list[tuple[str, int, int, str]], skipped: int) -> Manifest:
        gz = ".gz" if self.fmt.gzip else ""
        files = []
        for n, (temp, lines, size, md5) in enumerate(done, start=1):
            name = self._name("" if len(done) == 1 else f"{n:03d}") + gz
            self.fs.mv(temp, self._path(name))
            files.append(WrittenFile(name, n, size, lines, md5))
        total = self._name("")
        stem, dot, _ = total.rpartition(".")
        info = (stem if dot else total) + ".info"
        manifest = Manifest(info, total, tuple(files), skipped)
        temp = self._path(f".{self.run_key}.info.part")
        with self.fs.open(temp, "wb") as out:
            out.write(orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        self.fs.mv(temp, self._path(info))
        return manifest
