"""`langgraph dev` serves the Studio graphs of `langgraph.json`: a real server on loopback, driven by `langgraph_sdk`.

The server runs in a temporary working copy (it writes `.langgraph_api/` into its working directory), offline
(`LANGGRAPH_CLI_NO_ANALYTICS=1`, `LANGGRAPH_NO_VERSION_CHECK=1`), in its own session, and is stopped by killing its
process group by PID. The fake-pool server runs with an empty `LANGGRAPH_SALE_HOME`, so the local-pool graph meets a
missing pool there whatever this machine has installed; the real local pool gets a server of its own when installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import need_real

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH = Path(sys.executable).with_name("langgraph")
NAMESPACE = ("langgraph_sale", "auctions", "shared")
LOCAL_NAMESPACE = ("langgraph_sale", "local_auctions", "shared")
STARTUP_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 60.0
LOCAL_RUN_TIMEOUT_S = 600.0


@dataclass
class DevServer:
    """A running `langgraph dev`: its URL, port, process (leader of its own process group) and log."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    spawned: list[int] = field(default_factory=list)
    """PIDs of processes the server started in sessions of their own (a llama-server and its watchdog): killing
    the server's process group does not reach them, so they must go by themselves once it is gone."""

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True
    return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2.0) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it has not exited within `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    # The group's other members (none expected) go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def dev_server(workdir: Path, *, sale_home: Path | None) -> Iterator[DevServer]:
    """Start `langgraph dev` in a working copy under `workdir`; stop it by PID and check its port is free."""
    need_real("langgraph-cli")  # LANGGRAPH
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "langgraph.json").write_text((ROOT / "langgraph.json").read_text(encoding="utf-8"), encoding="utf-8")
    # The store index's embedder is a path relative to the working directory: the package is linked, not copied.
    (workdir / "langgraph_sale").symlink_to(ROOT / "langgraph_sale", target_is_directory=True)
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "1",
           "LANGSMITH_TRACING": "false"}
    env.pop("LANGSMITH_API_KEY", None)
    env.pop("LANGCHAIN_API_KEY", None)
    if sale_home is not None:
        env["LANGGRAPH_SALE_HOME"] = str(sale_home)
    existed = (ROOT / ".langgraph_api").exists()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"],
            cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = DevServer(url=url, port=port, process=process, log=log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not become healthy on {url}:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)
        # What the server started is stopped by a watchdog once the server is gone: give it a moment.
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in server.spawned) and time.monotonic() < deadline:
            time.sleep(0.2)
        leaked = [pid for pid in server.spawned if _alive(pid)]
        for pid in leaked:  # never leave a llama-server behind, even when the assertion below fails
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    assert not _listening(port), f"port {port} is still taken after the server was stopped"
    assert not leaked, f"the server left processes running: {leaked}"
    assert existed or not (ROOT / ".langgraph_api").exists(), "the server wrote its state into the repository"


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One server for the fake-pool tests; its `LANGGRAPH_SALE_HOME` is empty, so the local pool is missing."""
    base = tmp_path_factory.mktemp("studio")
    empty_home = base / "empty-sale-home"
    empty_home.mkdir()
    with dev_server(base / "work", sale_home=empty_home) as server:
        yield server


async def _stream(url: str, graph: str, task: str, *, config: Any = None, context: Any = None,
                  timeout: float = RUN_TIMEOUT_S) -> tuple[str, list[Any]]:
    from langgraph_sdk import get_client

    client = get_client(url=url)
    thread = await client.threads.create()
    parts: list[Any] = []
    async with asyncio.timeout(timeout):
        async for part in client.runs.stream(thread["thread_id"], graph, input={"auction_task": task},
                                             stream_mode=["updates", "custom"], config=config,
                                             context=context):
            parts.append(part)
    return thread["thread_id"], parts


def _events(parts: list[Any]) -> list[dict[str, Any]]:
    return [part.data for part in parts if part.event == "custom" and isinstance(part.data, dict)
            and "auction_event" in part.data]


def _nodes(parts: list[Any]) -> list[str]:
    return [node for part in parts if part.event == "updates" for node in part.data]


def _errors(parts: list[Any]) -> list[Any]:
    return [part.data for part in parts if part.event == "error"]


async def _state(url: str, thread_id: str) -> dict[str, Any]:
    from langgraph_sdk import get_client

    state: Any = await get_client(url=url).threads.get_state(thread_id)
    return dict(state["values"])


async def _store_items(url: str, namespace: tuple[str, ...], query: str | None = None) -> list[Any]:
    from langgraph_sdk import get_client

    found = await get_client(url=url).store.search_items(namespace, query=query, limit=100)
    return list(found["items"])


def _check_order(kinds: list[str]) -> None:
    """Opened first; the first round's bids, then its jury, then the winner; an outbid round after that; the
    outcome last."""
    first_round = kinds[:kinds.index("outbid_round")] if "outbid_round" in kinds else kinds
    first = {kind: first_round.index(kind) for kind in set(first_round)}
    last = {kind: len(first_round) - 1 - first_round[::-1].index(kind) for kind in set(first_round)}
    assert first["auction_opened"] == 0 and kinds.count("auction_opened") == 1
    assert first["bid_submitted"] <= last["bid_submitted"] < first["jury_scored"]
    assert last["jury_scored"] < first["bid_scored"] <= last["bid_scored"] < first["winner"]
    assert kinds[-1] == "outcome" and kinds.count("outcome") == 1


async def test_auction_streams_its_events_and_is_remembered_in_the_store(fake_server: DevServer) -> None:
    task = "Deduplicate and sort a list of integers."
    thread_id, parts = await _stream(fake_server.url, "auction", task)
    assert not _errors(parts), (_errors(parts), fake_server.log_tail())

    events = _events(parts)
    kinds = [event["auction_event"] for event in events]
    _check_order(kinds)
    assert kinds.count("bid_submitted") == 3 and kinds.count("jury_scored") == 9
    assert kinds.index("winner") < kinds.index("executed") < kinds.index("outcome")

    state = await _state(fake_server.url, thread_id)
    outcome = state["auction_outcome"]
    assert outcome["status"] == "executed" and outcome["memory_written"] is True
    winner = outcome["winner"]
    assert winner == state["auction_winner"] == events[kinds.index("outcome")]["winner"]
    assert {event["auction_id"] for event in events} == {outcome["auction_id"]}
    assert state["messages"][-1]["name"] == winner

    nodes = _nodes(parts)
    assert nodes[0] == "open_auction" and nodes[-1] == "record_outcome"
    assert {"open_auction", "bid", "collect_bids", "judge", "score", f"execute_{winner}", "record_outcome"} <= set(
        nodes)
    assert nodes.index("score") < nodes.index(f"execute_{winner}") < nodes.index("record_outcome")

    items = await _store_items(fake_server.url, NAMESPACE)
    remembered = [item for item in items if item["value"]["auction_id"] == outcome["auction_id"]]
    assert len(remembered) == 1
    assert tuple(remembered[0]["namespace"]) == NAMESPACE
    assert remembered[0]["value"]["task"] == task and remembered[0]["value"]["winner"] == winner
    # The store has the vector index of langgraph.json: a query ranks by the task embedding.
    ranked = await _store_items(fake_server.url, NAMESPACE[:2], query="sort integers")
    assert ranked and ranked[0]["score"] is not None


async def test_decide_auction_decides_and_recalls_past_auctions(fake_server: DevServer) -> None:
    before = await _store_items(fake_server.url, NAMESPACE)
    thread_id, parts = await _stream(fake_server.url, "decide_auction", "Sort a list of integers, without duplicates.")
    assert not _errors(parts), (_errors(parts), fake_server.log_tail())
    kinds = [event["auction_event"] for event in _events(parts)]
    _check_order(kinds)
    assert "executed" not in kinds
    nodes = _nodes(parts)
    assert not [node for node in nodes if node.startswith("execute_")]

    outcome = (await _state(fake_server.url, thread_id))["auction_outcome"]
    assert outcome["status"] == "decided" and outcome["winner"] in {"tiny", "small", "large"}
    if before:  # the first test's auction is in the shared memory: the outbid round recalled it
        assert "outbid_round" in kinds and outcome["recalled"] >= 1
    after = await _store_items(fake_server.url, NAMESPACE)
    assert outcome["auction_id"] in {item["value"]["auction_id"] for item in after}
    assert len(after) == len(before) + 1


async def test_user_memories_are_isolated_through_the_server(fake_server: DevServer) -> None:
    task = "Deduplicate and sort a list of integers."
    runs = {}
    for user in ("alice", "bob", "alice"):
        thread_id, parts = await _stream(fake_server.url, "user_auction", task, context={"user_id": user})
        assert not _errors(parts), (_errors(parts), fake_server.log_tail())
        runs.setdefault(user, []).append((await _state(fake_server.url, thread_id))["auction_outcome"])
    # Bob's first auction recalls nothing (only Alice's existed); Alice's second recalls her first, not Bob's.
    assert runs["bob"][0]["recalled"] == 0 and runs["alice"][0]["recalled"] == 0
    assert runs["alice"][1]["recalled"] == 1
    alice = await _store_items(fake_server.url, ("langgraph_sale", "user_auctions", "alice"))
    bob = await _store_items(fake_server.url, ("langgraph_sale", "user_auctions", "bob"))
    assert {item["value"]["auction_id"] for item in alice} == {outcome["auction_id"] for outcome in runs["alice"]}
    assert {item["value"]["auction_id"] for item in bob} == {runs["bob"][0]["auction_id"]}
    # A run without the user id fails before anything is paid for, naming the missing key.
    _, parts = await _stream(fake_server.url, "user_auction", task)
    assert _errors(parts) and "user_id" in str(_errors(parts)[0])


async def test_local_auction_without_the_pool_fails_the_run_clearly(fake_server: DevServer) -> None:
    from langgraph_sdk import get_client

    # Drawing the graph needs no pool: only a run starts the model server.
    drawn = await get_client(url=fake_server.url).assistants.get_graph("local_auction")
    assert {"execute_smollm2_135m", "execute_qwen_coder_0_5b", "execute_qwen_coder_1_5b"} <= {
        node["id"] for node in drawn["nodes"]}

    _, parts = await _stream(fake_server.url, "local_auction", "Say OK.")
    errors = _errors(parts)
    assert len(errors) == 1, parts
    assert errors[0]["error"] == "PoolNotInstalledError"
    assert "langgraph_sale.local install" in errors[0]["message"]
    assert not _events(parts)

    # The other graphs still run on the same server afterwards.
    _, parts = await _stream(fake_server.url, "auction", "Sort a list.")
    assert "outcome" in [event["auction_event"] for event in _events(parts)]


def _parent_of(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent_of(int(entry.name)) == pid:
            found.append(int(entry.name))
    return found


@pytest.mark.real("pool", "langgraph-cli")
def test_local_auction_runs_on_the_installed_pool(tmp_path: Path) -> None:
    from langgraph_sale.local import models_dir

    # A home of its own with the installed models: the dev server starts its own llama-server (never one that
    # another process runs and uses), and must stop it when it stops.
    home = tmp_path / "sale-home"
    home.mkdir()
    (home / "gguf").symlink_to(models_dir(), target_is_directory=True)

    with dev_server(tmp_path / "work", sale_home=home) as server:
        config = {"configurable": {"max_bid_tokens": 16, "jury": False, "max_answer_tokens": 16}}
        thread_id, parts = asyncio.run(_stream(server.url, "local_auction", "Reply with the single word OK.",
                                               config=config, timeout=LOCAL_RUN_TIMEOUT_S))
        recorded = json.loads((home / "server.json").read_text())["pid"]
        children = _children(server.process.pid)  # the llama-server and its watchdog, in sessions of their own
        server.spawned.extend(children)
        assert recorded in children  # started lazily by the graph factory
        assert not _errors(parts), (_errors(parts), server.log_tail())
        kinds = [event["auction_event"] for event in _events(parts)]
        assert kinds[0] == "auction_opened" and kinds[-1] == "outcome" and "winner" in kinds
        outcome = asyncio.run(_state(server.url, thread_id))["auction_outcome"]
        assert outcome["status"] == "executed", outcome
        assert outcome["winner"] in {"smollm2_135m", "qwen_coder_0_5b", "qwen_coder_1_5b"}
        items = asyncio.run(_store_items(server.url, LOCAL_NAMESPACE))
        assert outcome["auction_id"] in {item["value"]["auction_id"] for item in items}
    assert not (home / "server.json").exists()
