"""Real damage to a real SQLite store: a page of the file overwritten with garbage.

Not a mock: the bytes on disk change the way a bad sector, a torn write or a stray ``dd`` would
change them, and SQLite itself finds the damage. ``dbstat`` (compiled into the sqlite3 library
of every supported Python build here) says which pages belong to which table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: Bytes no b-tree page can start with (0xDE is no page type), repeated over a whole page.
GARBAGE = b"\xde\xad\xbe\xef"


def pages_of(path: Path, table: str) -> tuple[int, int, list[int]]:
    """(page size, root page, leaf pages) of ``table`` in the SQLite file at ``path``."""
    conn = sqlite3.connect(path)
    try:
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        root = int(
            conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[
                0
            ]
        )
        leaves = [
            int(r[0])
            for r in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                (table,),
            )
        ]
    finally:
        conn.close()
    return size, root, leaves


def overwrite_page(path: Path, page: int, page_size: int) -> None:
    """Overwrite page ``page`` (1-based) of the file with garbage."""
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0, (
        "close every connection first: the write-ahead log would restore the page"
    )
    with path.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(GARBAGE * (page_size // len(GARBAGE)))


def damage(path: Path, where: str = "middle", table: str = "candle") -> int:
    """Damage one page of ``table``: its b-tree root (every read of it fails) or a leaf in the
    middle (only a full check, or a read of those rows, finds it). Returns the page number."""
    size, root, leaves = pages_of(path, table)
    if where == "root":
        page = root
    else:
        assert len(leaves) >= 3, f"{table} needs several leaf pages, it has {len(leaves)}"
        page = leaves[len(leaves) // 2]
    overwrite_page(path, page, size)
    return page
