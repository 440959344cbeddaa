"""Appends records through a GroupCommitter from several threads and prints each key once its
future resolved (acknowledged), until killed. Run by test_kill.py as a subprocess."""

from __future__ import annotations

import sys
import threading

from sqlalchemy import Connection

from cible.events import GroupCommitter, Record, append_records
from cible.store import Database


def main(url: str, threads: int = 8) -> None:
    database = Database(url)
    committer = GroupCommitter(database.engine)
    out = threading.Lock()

    def client(thread: int) -> None:
        i = 0
        while True:
            key = f"{thread}-{i}"
            records = [Record("t", 1, key, b"{}"), Record("t", 1, key + "/2", b"{}")]

            def unit(conn: Connection, records: list[Record] = records) -> None:
                append_records(conn, records)

            committer.submit(unit).result()
            with out:
                sys.stdout.write(key + "\n")
                sys.stdout.flush()
            i += 1

    for n in range(threads):
        threading.Thread(target=client, args=(n,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
