"""Batch export seam: the DuckDB engine on a hand-made snapshot, templates, the file writer."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cible.dmp.transfers.export_engine import (
    CHANGES,
    IDS,
    MEMBERSHIPS,
    DuckDBEngine,
    ExportRow,
    ExportSpec,
    engine_named,
)
from cible.dmp.transfers.export_snapshot import CHANGE_SCHEMA, ID_SCHEMA, MEMBERSHIP_SCHEMA
from cible.dmp.transfers.export_template import (
    NAME_MACROS,
    Context,
    TemplateError,
    compile_template,
    render,
)
from cible.dmp.transfers.export_writer import FileFormat, FileWriter

SCALARS = {"SYNC_TYPE": "ftp", "ORDER_ID": "7", "SYNC_MODE": "full", "TIMESTAMP": "1486140844000"}


def _snapshot(folder: Path) -> Path:
    members = {"uuid": ["b", "a", "a", "c", "e"], "sid": [2, 3, 1, 1, 99],
               "since_ms": [5, 6, 7, 8, 9]}  # fmt: skip
    changes = {"change_id": [1, 2, 3, 4, 5], "uuid": ["a", "d", "d", "b", "c"],
               "sid": [1, 2, 2, 3, 99], "status": [1, 1, 0, 0, 0],
               "at_ms": [1, 2, 3, 4, 5]}  # fmt: skip
    ids = {"uuid": ["a", "a", "c"], "dpid": [9, 9, 8], "external_id": ["x", "y", "z"],
           "updated_ms": [1, 2, 3]}  # fmt: skip
    pq.write_table(pa.table(members, schema=MEMBERSHIP_SCHEMA), folder / MEMBERSHIPS)
    pq.write_table(pa.table(changes, schema=CHANGE_SCHEMA), folder / CHANGES)
    pq.write_table(pa.table(ids, schema=ID_SCHEMA), folder / IDS)
    return folder


SPEC = ExportSpec(destination_id=7, sids=(1, 2, 3), dpids=(9,))


def test_duckdb_full_and_iter_rows(tmp_path: Path) -> None:
    folder = _snapshot(tmp_path)
    engine = engine_named("duckdb")
    full = list(engine.compute_rows(folder, SPEC, "full", None))
    assert full == [
        ExportRow("a", ((1, 7), (3, 6)), (), ((9, "y"), (9, "x"))),  # most recent id first
        ExportRow("b", ((2, 5),), (), ()),
        ExportRow("c", ((1, 8),), (), ()),  # segment 99 is not mapped; dpid 8 not asked
    ]
    # iter after change 1: d entered then left 2 (removed), b left 3; change 5 is unmapped
    assert list(engine.compute_rows(folder, SPEC, "iter", 1)) == [
        ExportRow("b", ((2, 5),), ((3, 4),), ()),
        ExportRow("d", (), ((2, 3),), ()),
    ]
    assert [r.uuid for r in engine.compute_rows(folder, SPEC, "iter", None)] == ["a", "b", "d"]
    with pytest.raises(ValueError, match="no batch export engine"):
        engine_named("nope")


def test_templates() -> None:
    parts = compile_template(
        '<DP_UUID>\t<SEGMENT_LIST:{seg|<seg.sid>:<seg.type>:<seg.alias>}; separator="|">'
        "<TAB><PIDALIAS>"
    )
    ctx = Context(
        uuid="u",
        scalars={"DP_UUID": "x", "PIDALIAS": "acme"},
        lists={"SEGMENT_LIST": [(1, 10), (2, 20)]},
    )
    ctx.aliases = {2: "two"}
    assert render(parts, ctx) == "x\t1:5:|2:5:two\tacme"
    tab = compile_template("<UUID><TAB><DP_UUID_LIST;separator=TAB>")
    assert render(tab, Context(uuid="u", lists={"DP_UUID_LIST": ["p", "q"]})) == "u\tp\tq"
    stamp = compile_template('x_<TIMESTAMP; format="YYYYMMDDhhmmss">', macros=NAME_MACROS)
    assert render(stamp, Context(scalars={"TIMESTAMP": "1486140844000"})) == "x_20170203165404"
    for bad in ("<UUID", "<TRAIT_LIST>", "<if(UUID)>x<endif>", "<SEGMENT_LIST; separator=X>"):
        with pytest.raises(TemplateError):
            compile_template(bad)
    with pytest.raises(TemplateError):
        compile_template("<UUID>", macros=NAME_MACROS)  # no row macro in a file name


def _rows(n: int) -> list[ExportRow]:
    return [ExportRow(f"{10**37 + i}", ((1, 1), (2, 2)), ((3, 3),), ()) for i in range(n)]


def test_writer_splits_gzips_reproducibly_and_writes_the_manifest(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    fmt = FileFormat(max_lines=40, scalars=SCALARS)
    first = FileWriter(fs, str(tmp_path / "a"), fmt, "run-1").write(_rows(100))
    seen: list[int] = []  # what `cible dmp export`'s progress bar is fed
    again = FileWriter(fs, str(tmp_path / "b"), fmt, "run-1").write(_rows(100), seen.append)
    assert seen == [100]
    names = [f.name for f in first.files]
    assert names == [f"ftp_7_full_1486140844000{n:03d}.sync.gz" for n in (1, 2, 3)]
    assert [f.lines for f in first.files] == [40, 40, 20]
    assert first.info_name == "ftp_7_full_1486140844000.info"
    for file in first.files:
        data = (tmp_path / "a" / file.name).read_bytes()
        assert data == (tmp_path / "b" / file.name).read_bytes()
        assert hashlib.md5(data).hexdigest() == file.md5 and len(data) == file.bytes
        assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    lines = b"".join(gzip.decompress((tmp_path / "a" / n).read_bytes()) for n in names)
    assert lines.splitlines()[0] == f"{10**37} 1,2 3".encode()
    assert len(lines.splitlines()) == 100
    manifest = orjson.loads((tmp_path / "a" / first.info_name).read_bytes())
    assert manifest == first.to_json() == again.to_json()
    assert manifest["Totals"] == {
        "FileName": "ftp_7_full_1486140844000.sync",
        "TotalByteSize": sum(f.bytes for f in first.files),
        "TotalNumberFiles": 3,
        "TotalNumberLines": 100,
    }
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([*names, first.info_name])


def test_writer_single_file_has_no_splitnum_and_byte_limit(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    one = FileWriter(fs, str(tmp_path), FileFormat(gzip=False, scalars=SCALARS), "r").write([])
    assert [(f.name, f.lines, f.bytes) for f in one.files] == [
        ("ftp_7_full_1486140844000.sync", 0, 0)
    ]
    line = len(f"{10**37} 1,2 3\n")
    sized = FileFormat(gzip=False, max_bytes=line * 3 + 1, scalars=SCALARS)
    many = FileWriter(fs, str(tmp_path / "s"), sized, "r").write(_rows(7))
    assert [f.lines for f in many.files] == [3, 3, 1]


def test_writer_skips_rows_without_the_declared_id(tmp_path: Path) -> None:
    fmt = FileFormat(content_template="<DP_UUID>\t<UUID>", dpid=9, gzip=False, scalars=SCALARS)
    rows = [ExportRow("a", (), (), ((9, "x"),)), ExportRow("b", (), (), ((8, "z"),))]
    manifest = FileWriter(fsspec.filesystem("file"), str(tmp_path), fmt, "r").write(rows)
    assert manifest.skipped == 1 and manifest.lines == 1
    assert (tmp_path / manifest.files[0].name).read_text() == "x\ta\n"


def test_engine_rows_written_by_the_writer(tmp_path: Path) -> None:
    rows = DuckDBEngine().compute_rows(_snapshot(tmp_path), SPEC, "iter", 1)
    fmt = FileFormat(gzip=False, scalars={**SCALARS, "SYNC_MODE": "iter"})
    manifest = FileWriter(fsspec.filesystem("file"), str(tmp_path / "o"), fmt, "r").write(rows)
    assert (tmp_path / "o" / manifest.files[0].name).read_text() == "b 2 3\nd  2\n"
