"""BioIndexHook over the bio-index's real database engine: MariaDB through the Airflow MySQL provider.

A throw-away server is started on 127.0.0.1 at a free port with its own data directory for the
session and stopped at its end. ``make env`` installs MariaDB; without it these tests are skipped.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_bio.hooks.bioindex import BioIndexHook

SERVER = shutil.which("mariadbd") or next((p for p in ("/usr/sbin/mariadbd",) if Path(p).exists()), None)
INSTALL_DB = shutil.which("mariadb-install-db")
pytestmark = pytest.mark.skipif(
    not (SERVER and INSTALL_DB), reason="MariaDB is not installed (mariadbd, mariadb-install-db): run `make env`"
)
# The bio-index's own table (dig-bioindex's migration), with the compressed flag.
TABLE = """CREATE TABLE __Indexes (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin,
    `table` VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin,
    prefix VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_bin,
    `schema` VARCHAR(200),
    built DATETIME NULL,
    compressed BOOLEAN NOT NULL DEFAULT 0
)"""
ROWS = [("genes", "Genes", "genes/"), ("genes", "Genes2", "genes-v2/"), ("variants", "Variants", "variants/")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connect(port: int, database: str | None = "bioindex"):
    import MySQLdb

    return MySQLdb.connect(host="127.0.0.1", port=port, user="root", **({"database": database} if database else {}))


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory) -> Iterator[int]:
    """A MariaDB server on 127.0.0.1 for the session: its port."""
    root = tmp_path_factory.mktemp("mariadb")
    data, port = root / "data", free_port()
    subprocess.run(
        [INSTALL_DB, "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = subprocess.Popen(
        [
            SERVER,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={root / 'mariadb.sock'}",
            f"--pid-file={root / 'mariadb.pid'}",
            f"--log-error={root / 'error.log'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-grant-tables",
            "--innodb-buffer-pool-size=16M",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connect(port, None).close()
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
                    raise RuntimeError(f"MariaDB did not start on 127.0.0.1:{port}: {log[-2000:]}") from None
                time.sleep(0.1)
        with connect(port, None) as db:
            db.cursor().execute("CREATE DATABASE bioindex")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def bioindex_db(mariadb: int, monkeypatch) -> int:
    """A fresh ``__Indexes`` with every flag off, and the Airflow connection ``bioindex_mysql`` to it."""
    with connect(mariadb) as db:
        cursor = db.cursor()
        cursor.execute("DROP TABLE IF EXISTS __Indexes")
        cursor.execute(TABLE)
        cursor.executemany("INSERT INTO __Indexes (name, `table`, prefix) VALUES (%s, %s, %s)", ROWS)
        db.commit()
    conn = {"conn_type": "mysql", "host": "127.0.0.1", "port": mariadb, "login": "root", "schema": "bioindex"}
    monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_MYSQL", json.dumps(conn))
    return mariadb


def flags(port: int) -> dict[tuple[str, str], int]:
    with connect(port) as db:
        cursor = db.cursor()
        cursor.execute("SELECT name, prefix, compressed FROM __Indexes")
        return {(name, prefix): flag for name, prefix, flag in cursor.fetchall()}


ALL_OFF = {("genes", "genes/"): 0, ("genes", "genes-v2/"): 0, ("variants", "variants/"): 0}


def test_the_flag_of_exactly_one_row_is_set_and_unset(bioindex_db: int) -> None:
    hook = BioIndexHook("bioindex_mysql")
    hook.set_compressed("genes", "genes-v2/", True)
    assert flags(bioindex_db) == ALL_OFF | {("genes", "genes-v2/"): 1}
    hook.set_compressed("genes", "genes-v2/", True)  # MySQL reports 0 rows changed: still no error
    assert flags(bioindex_db) == ALL_OFF | {("genes", "genes-v2/"): 1}
    hook.set_compressed("genes", "genes-v2/", False)
    assert flags(bioindex_db) == ALL_OFF


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("genes", "gene/"), ("Genes", "genes/"), ("variants", "genes/"), ("x'; DROP TABLE __Indexes; --", "genes/")],
    ids=["wrong-prefix", "case-differs", "other-index-prefix", "quote-in-name"],
)
def test_a_missing_row_is_an_error_naming_it_and_changes_nothing(bioindex_db: int, name: str, prefix: str) -> None:
    with pytest.raises(RuntimeError, match=r"__Indexes has 0 rows for name=.* \(expected 1\); check the index name"):
        BioIndexHook("bioindex_mysql").set_compressed(name, prefix, True)
    assert flags(bioindex_db) == ALL_OFF


@pytest.mark.parametrize(
    ("name", "prefix", "message"),
    [
        ("", "genes/", "bad index name ''"),
        ("g" * 201, "genes/", "bad index name .*1 to 200 ASCII characters"),
        ("génes", "genes/", "bad index name 'génes'"),
        ("genes", "genes", "bad prefix 'genes': a key prefix"),
        ("genes", "/genes/", "bad prefix '/genes/'"),
    ],
    ids=["empty", "too-long", "not-ascii", "no-slash", "leading-slash"],
)
def test_bad_names_are_refused_before_any_connection(bioindex_db: int, name: str, prefix: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BioIndexHook("bioindex_mysql").set_compressed(name, prefix, True)
    assert flags(bioindex_db) == ALL_OFF


def test_a_lost_connection_is_an_error_naming_the_database_and_the_row(bioindex_db: int) -> None:
    blocker = connect(bioindex_db)
    blocker.cursor().execute("SELECT * FROM __Indexes WHERE prefix = 'genes/' FOR UPDATE")  # the hook's UPDATE waits

    def kill_the_hooks_connection() -> None:
        with connect(bioindex_db) as killer:
            cursor = killer.cursor()
            for _ in range(200):
                cursor.execute("SELECT id FROM information_schema.processlist WHERE info LIKE 'UPDATE __Indexes%%'")
                found = cursor.fetchall()
                if found:
                    cursor.execute(f"KILL CONNECTION {int(found[0][0])}")
                    return
                time.sleep(0.05)

    killer = threading.Thread(target=kill_the_hooks_connection)
    killer.start()
    try:
        with pytest.raises(
            RuntimeError,
            match=rf"the bio-index database \(mysql connection 'bioindex_mysql', 127.0.0.1:{bioindex_db}\) failed "
            r"while setting compressed=True for name='genes' prefix='genes/': OperationalError.*"
            r"setting it again is safe",
        ):
            BioIndexHook("bioindex_mysql").set_compressed("genes", "genes/", True)
    finally:
        killer.join()
        blocker.rollback()
        blocker.close()
    assert flags(bioindex_db) == ALL_OFF


def test_a_server_that_does_not_answer_is_an_error_naming_the_database(monkeypatch) -> None:
    port = free_port()  # nothing listens there
    conn = {"conn_type": "mysql", "host": "127.0.0.1", "port": port, "login": "root", "schema": "bioindex"}
    monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_MYSQL", json.dumps(conn))
    with pytest.raises(RuntimeError, match=rf"bio-index database .*127.0.0.1:{port}\) failed .*OperationalError"):
        BioIndexHook("bioindex_mysql").set_compressed("genes", "genes/", True)
