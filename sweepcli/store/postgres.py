"""The same sweeps on PostgreSQL: for agents that share no disk, or too many for one lock file.

Selected with ``--store postgresql://user@host:5432/db`` (or ``SWEEPCLI_STORE``); libpq's
environment (``PGPASSWORD``, ``PGSSLMODE``...) and ``~/.pgpass`` supply what the URL does
not, and the password is never printed. psycopg 3 is an optional extra
(``pip install 'sweepcli[postgres]'``).

It is the folder store's protocol (``protocol.SweepStore``/``Sweep``) over three tables;
the sweep's state is replayed from its events exactly as from ``journal.jsonl``, and the
search, hyperband and the claim decision are the same pure functions:

* ``sweepcli_sweeps`` (project, id, meta): what ``sweep.json`` holds.
* ``sweepcli_events`` (seq, sweep, event jsonb): the journal. Every append happens inside
  a transaction that holds the sweep's advisory lock (``pg_advisory_xact_lock``), which
  is the sweep lock: a claim reads the events, decides and appends its claim in one
  transaction, so each grid point is claimed once across every agent on every host, and
  a sweep's events commit in the order of their ``seq``.
* ``sweepcli_beats`` (sweep, run, at): heartbeats stamped with the *server's* clock
  (``clock_timestamp()``), compared with the server's clock: hosts' clocks play no part.
* ``sweepcli_schema`` (version): created on first use; a newer sweepcli migrates an older
  schema, an older sweepcli refuses a newer one with a message.

A lost connection is an ``OSError(EIO)`` to the agent (what it already waits out, for up
to 10 minutes, like a flaky disk) and is reconnected with backoff; a transaction whose
commit was lost is a ``LockLost`` and its events are read back from the server, never
assumed. Runs' folders (``SWEEPCLI_RUN_DIR``: checkpoints, output, the metric file) stay
on the agent's host under ``--dir``; their metric lines reach the database through the
agent. SQL is only ever sent with bound parameters.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import zlib
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from ..errors import SweepcliError
from ..backoff import Backoff
from ..config import SweepConfig
from .protocol import Optional, StartOver
from .files import ID_RE, check_project, new_id, parse_sweep_ref
from .lock import DEFAULT_TIMEOUT, LockLost, LockTimeout, ReentrantLock
from .settings import SettingError
from .sweep import Sweep, SweepUnreadable
from .sweep_folder import the_one

SCHEMA_VERSION = 1
#: the schema, version by version: a newer sweepcli runs the steps an older one lacks
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE IF NOT EXISTS sweepcli_sweeps (
               project text NOT NULL,
               id text NOT NULL,
               meta jsonb NOT NULL,
               created timestamptz NOT NULL DEFAULT clock_timestamp(),
               PRIMARY KEY (project, id))""",
        "CREATE INDEX IF NOT EXISTS sweepcli_sweeps_id ON sweepcli_sweeps (id)",
        """CREATE TABLE IF NOT EXISTS sweepcli_events (
               seq bigserial PRIMARY KEY,
               sweep text NOT NULL,
               event jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS sweepcli_events_sweep ON sweepcli_events (sweep, seq)",
        """CREATE TABLE IF NOT EXISTS sweepcli_beats (
               sweep text NOT NULL,
               run text NOT NULL,
               at timestamptz NOT NULL,
               PRIMARY KEY (sweep, run))""",
    ],
}
RETRY_FOR = 60.0  # seconds a command keeps reconnecting before it gives up
_SCHEMA_LOCK = 0x5357_4545_5043_4C49  # "SWEEPCLI": the advisory lock of migrations
_EVENTS_SINCE = "SELECT seq, event FROM sweepcli_events WHERE sweep = %s AND seq > %s ORDER BY seq"


def _sweep_key(project: str | None, sweep_id: str) -> str:
    """How the tables name a sweep: PROJECT/ID, or /ID outside a project."""
    return f"{project or ''}/{sweep_id}"


class StoreError(SweepcliError, RuntimeError):
    """The database cannot be used as a sweepcli store (schema too new, no driver)."""


def is_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("postgresql://", "postgres://"))


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing of it
        return "postgresql://(unparsable URL)"
    user = f"{info['user']}@" if info.get("user") else ""
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname') or ''}"


def _check_url(url: str) -> None:
    """Refuse a URL libpq cannot parse, saying where it came from and nothing of it: libpq's
    own message quotes the part it could not read, which may be the password."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return  # said when a connection is asked for (how to install the driver)
    try:
        conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - whatever it is, its text may hold the password
        raise SettingError("--store/SWEEPCLI_STORE: libpq cannot parse this PostgreSQL URL "
                           "(not shown: it may hold a password); check its percent-encoding "
                           "(a % in a password is written %25)") from None


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError("the PostgreSQL store needs psycopg: pip install 'sweepcli[postgres]'"
                         ) from None
    return psycopg


def _denied(url: str, exc: BaseException) -> PermissionError:
    """The role may not do this (a read-only teammate's): EACCES, as a folder says it, so
    that a look goes on without writing and an agent stops with the server's words."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return PermissionError(errno.EACCES, f"PostgreSQL at {safe_url(url)}: {text}")


def _unavailable(url: str, exc: BaseException) -> OSError:
    """A problem with the server as the agent's kind of transient error (EIO), said as what
    it is: a lost or refused connection is "unavailable"; anything else the server answered
    (a serialization failure, a refused value) is "refused", with its SQLSTATE."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    state = getattr(exc, "sqlstate", None)
    psycopg = _driver()
    if isinstance(exc, psycopg.OperationalError) and not (state or "").startswith("40"):
        return OSError(errno.EIO, f"PostgreSQL at {safe_url(url)} unavailable: {text}")
    return OSError(errno.EIO, f"PostgreSQL at {safe_url(url)} refused the statement"
                              f"{f' (SQLSTATE {state})' if state else ''}: {text}")


class Connections:
    """One process's connections to the store, reconnected with backoff when lost: an
    agent keeps two ("lock:SWEEP": the sweep lock's transactions; "read": reads and heartbeats,
    autocommit; psycopg serialises its threads on it)."""

    def __init__(self, url: str):
        self.url = url
        self._conns: dict[str, Any] = {}
        self._guard = threading.Lock()
        self.ever_connected = False

    def get(self, name: str, autocommit: bool = True, retry_for: float = RETRY_FOR) -> Any:
        psycopg = _driver()
        with self._guard:
            conn = self._conns.get(name)
            if conn is not None and not conn.closed and not conn.broken:
                return conn
            if not self.ever_connected:
                retry_for = min(retry_for, 3.0)  # a wrong URL is said at once, not in a minute
            backoff, deadline = Backoff(0.1, 5.0), time.monotonic() + retry_for
            while True:
                try:
                    conn = psycopg.connect(self.url, autocommit=autocommit, connect_timeout=10,
                                           application_name="sweepcli")
                    # the lock's transactions read what the previous holder committed: each
                    # statement after the wait needs a snapshot of its own, whatever default
                    # a DBA set (REPEATABLE READ would read from before the wait ended)
                    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
                    self.ever_connected = True
                    break
                except psycopg.OperationalError as exc:
                    if time.monotonic() + backoff.delay > deadline:
                        raise _unavailable(self.url, exc) from None
                    backoff.wait()
            self._conns[name] = conn
            return conn

    def drop(self, name: str) -> None:
        with self._guard:
            conn = self._conns.pop(name, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def close(self) -> None:
        for name in list(self._conns):
            self.drop(name)


def _run(conns: Connections, fn: Any, name: str = "read", tries: int = 8) -> Any:
    """``fn(connection)`` on an autocommit connection; a lost connection is reconnected
    (with backoff) and ``fn`` run again, so it must only read or write idempotently."""
    psycopg = _driver()
    backoff = Backoff(0.1, 5.0)
    for attempt in range(tries):
        conn = conns.get(name)
        try:
            return fn(conn)
        except psycopg.OperationalError as exc:
            conns.drop(name)
            if attempt == tries - 1:
                raise _unavailable(conns.url, exc) from None
            backoff.wait()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _denied(conns.url, exc) from None
        except psycopg.errors.UniqueViolation:
            raise  # the caller's to say (an ID that is taken)
        except psycopg.Error as exc:  # anything else the server says: a message, no traceback
            conns.drop(name)
            raise _unavailable(conns.url, exc) from None
    raise AssertionError("unreachable")


def _schema_version(conns: Connections) -> int | None:
    """The tables' schema version, read without creating anything (None: no tables yet)."""

    def read(conn: Any) -> int | None:
        if conn.execute("SELECT to_regclass('sweepcli_schema')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT max(version) FROM sweepcli_schema").fetchone()
        return row[0] if row and row[0] is not None else 0

    try:
        return _run(conns, read)
    except PermissionError:
        return None  # (not even SELECT on it: the migration below says what is wrong)


def _ensure_schema(conns: Connections) -> None:
    if _schema_version(conns) == SCHEMA_VERSION:
        return  # made once, by a role that may create: the tables' privileges are enough now

    def migrate(conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS sweepcli_schema (version integer NOT NULL)")
            row = conn.execute("SELECT max(version) FROM sweepcli_schema").fetchone()
            version = row[0] if row and row[0] is not None else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the sweepcli tables in {safe_url(conns.url)} are schema version {version}, "
                    f"newer than this sweepcli's ({SCHEMA_VERSION}): upgrade sweepcli "
                    "(pip install -U 'sweepcli[postgres]')")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[step]:
                    conn.execute(sql)
                conn.execute("INSERT INTO sweepcli_schema (version) VALUES (%s)", (step,))

    try:
        _run(conns, migrate, "schema", tries=4)
    except PermissionError as exc:
        conns.drop("schema")
        raise StoreError(f"cannot create sweepcli's tables in {safe_url(conns.url)} "
                         f"({exc.strerror}): a role that may create them (CREATE on the "
                         "schema) runs any sweepcli command once; then the tables' "
                         "privileges are enough") from None
    conns.drop("schema")  # (a connection less to hold: an agent keeps two)


class PgLock(ReentrantLock):
    """The sweep lock: a transaction holding the sweep's advisory lock. Re-entrant within a
    process (its threads take turns), exclusive across every agent on every host. What is
    appended while it is held commits when it is released, or not at all."""

    def __init__(self, backend: PgBackend, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(timeout)
        self.backend = backend
        self._conn: Any = None
        self.key = zlib.crc32(f"sweepcli:{backend.key}".encode())
        self.name = f"lock:{backend.key}"
        self.kind = "postgres"

    @property
    def connection(self) -> Any:
        if self._conn is None:
            raise LockLost("the sweep lock is not held")
        return self._conn

    def check(self) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            raise LockLost(f"lost the connection to {safe_url(self.backend.store.url)} while "
                           "holding the sweep lock")

    def _take(self) -> None:
        psycopg = _driver()
        conns = self.backend.store.conns
        deadline = time.monotonic() + self.timeout
        backoff = Backoff(0.1, 2.0)
        while True:
            # a connection of this sweep's own: a lock on another sweep, held meanwhile by
            # this process, is another transaction
            conn = conns.get(self.name, autocommit=False,
                             retry_for=max(0.0, deadline - time.monotonic()))
            try:
                ms = max(1, int(1000 * max(0.0, deadline - time.monotonic())))
                # one round trip: the wait's limit is set before the lock is asked for
                conn.execute("SELECT set_config('lock_timeout', %s, true), "
                             "pg_advisory_xact_lock(%s)", (f"{ms}ms", self.key))
                self._conn = conn
                self.backend.begin()
                return
            except psycopg.errors.LockNotAvailable:
                conn.rollback()
                raise LockTimeout(f"the sweep lock ({safe_url(conns.url)}) is held by another "
                                  f"agent; waited {self.timeout:.0f} s") from None
            except psycopg.OperationalError as exc:
                conns.drop(self.name)
                if time.monotonic() + backoff.delay > deadline:
                    raise _unavailable(conns.url, exc) from None
                backoff.wait()
            except psycopg.Error as exc:  # anything else the server says: a message
                conns.drop(self.name)
                raise _unavailable(conns.url, exc) from None

    def _release(self, ok: bool) -> None:
        psycopg = _driver()
        conn, self._conn = self._conn, None
        try:
            if ok:
                conn.commit()
            else:
                conn.rollback()
        except psycopg.Error as exc:
            self.backend.store.conns.drop(self.name)
            self.backend.forget()  # what this transaction appended may or may not be there
            if ok:
                raise LockLost(f"the sweep's transaction did not commit ({str(exc).strip()}); "
                               "its events are read back from the server") from None
            return
        if not ok:
            self.backend.forget()  # appended events were rolled back


class PgBackend(Optional):
    """One sweep's record in PostgreSQL (``protocol.Backend``): its rows of
    ``sweepcli_events`` read from a cursor (``seq``), appended in the lock's transaction,
    and heartbeats stamped by the server's clock. Runs' folders are on many hosts: the
    database alone is the record (no completeness check), and a replay reads only this
    sweep's rows (no snapshots)."""

    #: the store's address, and libpq's variables that hold or point to a credential: the
    #: store's, not the program's
    hidden_from_programs: tuple[str, ...] = ("SWEEPCLI_STORE", "PGPASSWORD", "PGPASSFILE", "PGSERVICE",
                            "PGSERVICEFILE", "PGSSLKEY", "PGSSLCERT", "PGSSLPASSWORD",
                            "PGKRBSRVNAME", "PGGSSLIB")

    def __init__(self, store: PgStore, key: str, meta: dict[str, Any]):
        self.store = store
        self.key = key
        self.lock = PgLock(self)
        self._meta = meta
        self._seq = 0
        self._appended = False
        self._start_over = False

    def meta(self) -> dict[str, Any]:
        return self._meta

    def sibling(self, ref: str) -> Sweep:
        """Another sweep of the same database."""
        return self.store.open(ref)

    def begin(self) -> None:
        self._appended = False

    def forget(self) -> None:
        """What this transaction appended was rolled back (or may have been): the next read
        starts over from the server's first event."""
        if self._appended:
            self._seq = 0
            self._appended = False
            self._start_over = True

    # ---- events ------------------------------------------------------------------------
    def read(self) -> Iterator[list[dict[str, Any]]]:
        if self._start_over:
            self._start_over = False
            raise StartOver
        psycopg = _driver()
        held = self.lock._conn is not None
        if held:  # read inside the lock's transaction: what it appended is ours
            try:
                rows = self.lock.connection.execute(_EVENTS_SINCE,
                                                    (self.key, self._seq)).fetchall()
            except psycopg.Error as exc:
                raise LockLost(f"lost the connection to {safe_url(self.store.url)} "
                               f"while holding the sweep lock: {exc}") from None
        else:
            rows = _run(self.store.conns, lambda conn: conn.execute(
                _EVENTS_SINCE, (self.key, self._seq)).fetchall())
        if rows:
            self._seq = rows[-1][0]
            yield [event for _, event in rows]

    def append(self, events: list[dict[str, Any]]) -> bool:
        """Append events (the lock must be held, and everything before them read): they
        commit with the lock's release."""
        psycopg = _driver()
        texts = [json.dumps(e, allow_nan=False) for e in events]
        try:
            with self.lock.connection.cursor() as cur:
                cur.executemany("INSERT INTO sweepcli_events (sweep, event) VALUES (%s, %s) "
                                "RETURNING seq", [(self.key, t) for t in texts], returning=True)
                seqs = []
                while True:
                    row = cur.fetchone()
                    if row is not None:
                        seqs.append(row[0])
                    if not cur.nextset():
                        break
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _denied(self.store.url, exc) from None
        except psycopg.Error as exc:
            raise LockLost(f"{_unavailable(self.store.url, exc).strerror} (while appending: "
                           "nothing of it was written)") from None
        self._appended = True
        self._seq = max([self._seq, *seqs])
        return True

    # ---- heartbeats, by the server's clock -----------------------------------------------
    def heartbeat(self, run_id: str) -> None:
        _run(self.store.conns, lambda conn: conn.execute(
            "INSERT INTO sweepcli_beats (sweep, run, at) VALUES (%s, %s, clock_timestamp()) "
            "ON CONFLICT (sweep, run) DO UPDATE SET at = EXCLUDED.at", (self.key, run_id)),
            tries=2)

    def beats(self, run_ids: list[str]) -> tuple[float, dict[str, float | None]]:
        """The server's clock and the runs' heartbeats by it, in one round trip."""
        now, beats = _run(self.store.conns, lambda conn: conn.execute(
            "SELECT extract(epoch FROM clock_timestamp())::float8, (SELECT coalesce("
            "jsonb_object_agg(run, extract(epoch FROM at)::float8), '{}'::jsonb) FROM "
            "sweepcli_beats WHERE sweep = %s)", (self.key,)).fetchone())
        return float(now), {rid: float(beats[rid]) if rid in beats else None for rid in run_ids}


class PgStore:
    """Every sweep of one PostgreSQL database (``protocol.SweepStore``); runs' folders of
    this host under ``root``."""

    kind = "postgres"

    def __init__(self, url: str, root: str | Path | None = None):
        if root is None:
            root = os.environ.get("SWEEPCLI_DIR") or "sweeps"
        self.root = Path(root)
        _check_url(url)
        self.url = url
        self.conns = Connections(url)
        self._ready = False

    def __str__(self) -> str:
        return safe_url(self.url)

    def _sweep(self, sweep_id: str, project: str | None, meta: dict[str, Any]) -> Sweep:
        path = self.root / project / sweep_id if project else self.root / sweep_id
        return Sweep(path, sweep_id, project, PgBackend(self, _sweep_key(project, sweep_id), meta))

    def _schema(self) -> None:
        if not self._ready:
            _ensure_schema(self.conns)
            self._ready = True

    def create(self, config: SweepConfig, name: str | None = None, project: str | None = None,
               events: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
               sweep_id: str | None = None, meta: dict[str, Any] | None = None,
               source_dir: str | None = None) -> Sweep:
        """A new sweep with a fresh ID (or ``sweep_id``, for ``copy``), its first events
        with it, in one transaction."""
        psycopg = _driver()
        if project is not None:
            check_project(project)
        self._schema()
        if meta is None:
            meta = {"project": project, "name": name or config.name, "created": time.time(),
                    "config": config.raw}
            if source_dir is not None:  # the sweep file's folder: where a relative program is
                meta["source_dir"] = source_dir
        t = round(time.time(), 3)
        texts = [json.dumps({"t": t, **e} if "t" not in e else e, allow_nan=False) for e in events]
        while True:
            sid = sweep_id or new_id()
            full = {"id": sid, **{k: v for k, v in meta.items() if k != "id"}}

            def insert(conn: Any, sid: str = sid, full: dict[str, Any] = full) -> None:
                with conn.transaction():
                    conn.execute("INSERT INTO sweepcli_sweeps (project, id, meta) VALUES "
                                 "(%s, %s, %s)", (project or "", sid, json.dumps(full)))
                    with conn.cursor() as cur:
                        for i in range(0, len(texts), 1000):
                            cur.executemany("INSERT INTO sweepcli_events (sweep, event) "
                                            "VALUES (%s, %s)",
                                            [(_sweep_key(project, sid), x)
                                             for x in texts[i:i + 1000]])

            try:
                # (a lost commit is not run again: a second try would find the ID taken)
                _run(self.conns, insert, "schema", tries=1)
            except psycopg.errors.UniqueViolation:
                self.conns.drop("schema")
                if sweep_id is not None:
                    raise FileExistsError(errno.EEXIST, "a sweep with this ID is already there",
                                          safe_url(self.url)) from None
                continue
            self.conns.drop("schema")
            return self._sweep(sid, project, full)

    def open(self, ref: str) -> Sweep:
        project, sweep_id = parse_sweep_ref(ref)
        self._schema()
        if project is not None:
            rows = _run(self.conns, lambda conn: conn.execute(
                "SELECT project, meta FROM sweepcli_sweeps WHERE project = %s AND id = %s",
                (project, sweep_id)).fetchall())
        else:
            rows = _run(self.conns, lambda conn: conn.execute(
                "SELECT project, meta FROM sweepcli_sweeps WHERE id = %s ORDER BY project",
                (sweep_id,)).fetchall())
        where = safe_url(self.url)
        meta, found = the_one([(m, p or None) for p, m in rows], project, sweep_id, where)
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise SweepUnreadable(f"sweep {sweep_id} in {where} has no sweep config")
        return self._sweep(sweep_id, found or None, meta)

    def list(self) -> list[str]:
        self._schema()
        rows = _run(self.conns, lambda conn: conn.execute(
            "SELECT project, id FROM sweepcli_sweeps ORDER BY project, id").fetchall())
        return [f"{p}/{i}" if p else i for p, i in rows if ID_RE.match(i)]
