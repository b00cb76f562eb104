"""The shared auction memory: one record per auction in a LangGraph store, recalled by task similarity.

Agents cheaper than the provisional winner recall the k most similar past auctions as (losing plan, winning plan)
pairs and rewrite their bids from that contrast (docs/method.md §2.7, §6.2 #12-#14). The memory lives in any
LangGraph `BaseStore`: the one the graph is compiled with (`compile(store=...)`), or the LangGraph server's store in
Studio.

- **Where.** Records live under `namespace + (scope,)`. The scope is `"shared"` unless `scope_key` names a field of
  the run context (or of `config["configurable"]`) such as a user or tenant id: then every run must carry it, and
  recall reads that scope's namespace only (results from any other namespace are dropped, so no prefix match can
  leak records between scopes).
- **Recall.** On a store with a vector index (`InMemoryStore(index=...)`, `PostgresStore(index=...)`, the server's
  store with `store.index` in `langgraph.json`) the store's own `search(query=task)` ranks records by cosine
  similarity of the task embeddings. On a store without one, recall still works: the scope's records (at most
  `max_records` of them) are listed and ranked by BM25 over their task texts (`bm25s`). That costs a listing of the
  scope per recall, linear in its size: give large memories an index.
- **Cap.** After a write, a scope holding more than `max_records` records loses its oldest ones. The check lists
  the scope, so it runs on every write while the scope is small and every `max_records // 20` writes per process
  above 1,000 records (a scope may exceed its cap by that many records between checks).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore, Item
from pydantic import BaseModel, Field

from langgraph_sale.errors import AuctionConfigError, AuctionInputError, require_int
from langgraph_sale.state import run_setting
from langgraph_sale.types import AuctionOutcome, Bid

__all__ = ["AuctionMemory", "BoundMemory", "AuctionRecord", "MemoryBid", "ContrastPair", "DEFAULT_NAMESPACE",
           "SHARED_SCOPE", "RECALL_K"]

RECALL_K = 8
"""Past auctions recalled per auction by default: the paper's k (docs/method.md §2.7)."""

DEFAULT_NAMESPACE: tuple[str, ...] = ("langgraph_sale", "auctions")
SHARED_SCOPE = "shared"
"""The scope of records when no `scope_key` is configured."""

_SMALL_SCOPE = 1_000
"""Up to this many records the cap is checked on every write."""


class MemoryBid(BaseModel):
    """One bid of a remembered auction: who, which phase and round, the plan and its score (None: it failed)."""

    bidder: str
    phase: Literal["bid", "refine"] = "bid"
    round: int = 0
    plan: str = ""
    plan_tokens: int = 0
    score: float | None = None


class ContrastPair(BaseModel):
    """A past auction seen by one bidder: the losing and the winning plan, and which of the two was its own."""

    task: str
    losing: str
    winning: str
    yours: Literal["losing", "winning"]


class AuctionRecord(BaseModel):
    """What memory keeps of one auction (docs/method.md §6.2 #12): every bid of every phase with its score, the
    provisional and final winner, and the execution outcome, with `success_known` saying whether `success` was
    judged (an evaluator) or is unknown."""

    auction_id: str
    task: str
    created_at: float = Field(default_factory=time.time)
    pool: list[str] = Field(default_factory=list)
    bids: list[MemoryBid] = Field(default_factory=list)
    provisional_winner: str | None = None
    winner: str | None = None
    outbid: bool = False
    status: str = "executed"
    success: bool | None = None
    success_known: bool = False
    cost_usd: float = 0.0
    execute_tokens: int = 0
    """Tokens the winner's execution used (0 when nobody executed): what a budget expects of similar tasks."""
    execute_cost_usd: float = 0.0
    """What the winner's execution cost; `cost_usd` minus this is what the auction itself cost."""

    @classmethod
    def of_auction(cls, pool: Sequence[str], bids: Sequence[Bid], outcome: AuctionOutcome) -> AuctionRecord:
        """What memory keeps of a finished auction: every bid with its score, the winners, the execution."""
        return cls(
            auction_id=outcome.auction_id,
            task=outcome.task,
            pool=list(pool),
            bids=[MemoryBid(bidder=b.bidder, phase=b.phase, round=b.round, plan=b.plan, plan_tokens=b.plan_tokens,
                            score=b.breakdown.score if b.breakdown is not None and b.ok else None) for b in bids],
            provisional_winner=outcome.provisional_winner,
            winner=outcome.winner,
            outbid=outcome.outbid,
            status=outcome.status,
            success=outcome.success,
            success_known=outcome.success is not None,
            cost_usd=outcome.total_cost_usd,
            execute_tokens=outcome.tokens_by_phase.get("execute", 0),
            execute_cost_usd=outcome.cost_usd_by_phase.get("execute", 0.0),
        )

    @property
    def held(self) -> bool:
        """True when an auction was held (bids were made), False for a skipped one (`langgraph_sale.skipping`)."""
        return bool(self.bids)

    def final_bid(self, bidder: str) -> MemoryBid | None:
        """The bidder's last valid bid in this auction: its rewritten one after an outbid round, else its first."""
        own = [b for b in self.bids if b.bidder == bidder and b.score is not None and b.plan]
        return max(own, key=lambda b: (b.phase == "refine", b.round), default=None)

    def pair_for(self, bidder: str) -> ContrastPair | None:
        """The contrast this auction offers `bidder` (docs/method.md §6.2 #13): its own losing bid against the
        winning bid, or, when it won, the best-scored losing bid against its own; None when it took no part.

        Examples:
            >>> record = AuctionRecord(auction_id="a", task="t", winner="large", bids=[
            ...     MemoryBid(bidder="small", plan="vague", score=0.9),
            ...     MemoryBid(bidder="large", plan="tested", score=0.2)])
            >>> record.pair_for("small").yours, record.pair_for("large").losing
            ('losing', 'vague')
        """
        own = self.final_bid(bidder)
        winning = self.final_bid(self.winner) if self.winner else None
        if own is None or winning is None:
            return None
        if bidder != self.winner:
            return ContrastPair(task=self.task, losing=own.plan, winning=winning.plan, yours="losing")
        others = dict.fromkeys(b.bidder for b in self.bids if b.bidder != bidder)
        losers = [bid for name in others if (bid := self.final_bid(name)) is not None]
        if not losers:
            return None
        best_loser = min(losers, key=lambda b: b.score if b.score is not None else float("inf"))
        return ContrastPair(task=self.task, losing=best_loser.plan, winning=own.plan, yours="winning")


class AuctionMemory:
    """The shared memory of past auctions, over the LangGraph store of the run (or one given here).

    Args:
        namespace: Namespace prefix of the records; the scope is appended.
        scope_key: A field of the run context (or of `config["configurable"]`) whose value scopes the memory, for
            example "user_id": every run must then carry it, and scopes never see each other's records.
        k: Past auctions recalled per auction (the paper's k = 8).
        max_records: Records kept per scope; the oldest go first.
        store: A store to use instead of the runtime's (for a graph compiled without one).

    Raises:
        AuctionConfigError: On an invalid option, naming it.

    Examples:
        >>> from langgraph.store.memory import InMemoryStore
        >>> memory = AuctionMemory(k=2)
        >>> store = InMemoryStore()
        >>> namespace = memory.namespace_for(None)
        >>> memory.write(store, namespace, AuctionRecord(auction_id="a1", task="sort a list", winner="small"))
        >>> [r.task for r in memory.recall(store, namespace, "sort the list")]
        ['sort a list']
    """

    def __init__(
        self,
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        scope_key: str | None = None,
        k: int = RECALL_K,
        max_records: int = 10_000,
        store: BaseStore | None = None,
    ) -> None:
        labels = tuple(namespace)
        if not labels or not all(isinstance(label, str) and label and "." not in label for label in labels):
            raise AuctionConfigError("memory.namespace", f"must be non-empty labels without periods, got {namespace!r}")
        if scope_key is not None and (not isinstance(scope_key, str) or not scope_key):
            raise AuctionConfigError("memory.scope_key", f"must be a context field name, got {scope_key!r}")
        for field, value in (("k", k), ("max_records", max_records)):
            require_int(f"memory.{field}", value)
        if store is not None and not isinstance(store, BaseStore):
            raise AuctionConfigError("memory.store", f"must be a LangGraph BaseStore, got {type(store).__name__}")
        self.namespace = labels
        self.scope_key = scope_key
        self.k = k
        self.max_records = max_records
        self.store = store
        self._writes: dict[tuple[str, ...], int] = {}

    def __repr__(self) -> str:
        return (f"AuctionMemory(namespace={self.namespace!r}, scope_key={self.scope_key!r}, k={self.k}, "
                f"max_records={self.max_records})")

    # ---- where ---------------------------------------------------------------------------------------------------
    def bind(self, runtime_store: BaseStore | None, context: Any, config: RunnableConfig | None = None
             ) -> BoundMemory:
        """This memory with a run's store and scope resolved once (`store_for`, `namespace_for`): what a phase
        node reads and writes through. Raises, before anything is paid for, when either is missing."""
        return BoundMemory(self, self.store_for(runtime_store), self.namespace_for(context, config))

    def store_for(self, runtime_store: BaseStore | None) -> BaseStore:
        """The store to use: the one given here, else the run's; a clear error when there is none."""
        store = self.store if self.store is not None else runtime_store
        if store is None:
            raise AuctionConfigError(
                "memory", "needs a store: compile the graph with compile(store=InMemoryStore(...)) or pass "
                "AuctionMemory(store=...); the LangGraph server provides its own")
        return store

    def namespace_for(self, context: Any, config: RunnableConfig | None = None) -> tuple[str, ...]:
        """The namespace of this run's records: the prefix plus the scope read from the context or config."""
        if self.scope_key is None:
            return (*self.namespace, SHARED_SCOPE)
        value = run_setting(context, config, self.scope_key)
        if not isinstance(value, str) or not value.strip():
            raise AuctionInputError(
                self.scope_key, f"the auction memory is scoped by {self.scope_key!r}: pass it in the run context "
                f"(context={{{self.scope_key!r}: ...}}) or config['configurable'], as a non-empty string")
        # Store namespaces reject periods; the scope is an opaque id, so it is kept whole but made legal.
        return (*self.namespace, value.strip().replace(".", "%2E"))

    # ---- write ---------------------------------------------------------------------------------------------------
    def write(self, store: BaseStore, namespace: tuple[str, ...], record: AuctionRecord) -> None:
        """Store one auction, indexed on its task, then apply the record cap."""
        store.put(namespace, record.auction_id, record.model_dump(mode="json"), index=["task"])
        if self._cap_due(namespace):
            for item in self._evictable(self._listing(store, namespace)):
                store.delete(namespace, item.key)

    async def awrite(self, store: BaseStore, namespace: tuple[str, ...], record: AuctionRecord) -> None:
        """`write`, async."""
        await store.aput(namespace, record.auction_id, record.model_dump(mode="json"), index=["task"])
        if self._cap_due(namespace):
            for item in self._evictable(await self._alisting(store, namespace)):
                await store.adelete(namespace, item.key)

    @property
    def _check_every(self) -> int:
        # Writes per process between two checks of the cap in a large scope.
        return max(1, self.max_records // 20)

    def _cap_due(self, namespace: tuple[str, ...]) -> bool:
        count = self._writes[namespace] = self._writes.get(namespace, 0) + 1
        return self.max_records <= _SMALL_SCOPE or count % self._check_every == 0

    def _evictable(self, items: Sequence[Item]) -> list[Item]:
        if len(items) <= self.max_records:
            return []
        newest_first = sorted(items, key=lambda item: (float(item.value.get("created_at") or 0.0),
                                                       item.created_at), reverse=True)
        return newest_first[self.max_records:]

    def _listing(self, store: BaseStore, namespace: tuple[str, ...]) -> list[Item]:
        # One page past the cap is enough to see that the cap is exceeded and by which records.
        return _in_scope(store.search(namespace, limit=self.max_records + self._check_every + 1), namespace)

    async def _alisting(self, store: BaseStore, namespace: tuple[str, ...]) -> list[Item]:
        return _in_scope(await store.asearch(namespace, limit=self.max_records + self._check_every + 1), namespace)

    # ---- recall --------------------------------------------------------------------------------------------------
    def recall(self, store: BaseStore, namespace: tuple[str, ...], task: str) -> list[AuctionRecord]:
        """The `k` past auctions of this scope most similar to `task`, most similar first."""
        if _has_vector_index(store):
            return _records(_in_scope(store.search(namespace, query=task, limit=self.k), namespace))
        return self._lexical(self._listing(store, namespace), task)

    async def arecall(self, store: BaseStore, namespace: tuple[str, ...], task: str) -> list[AuctionRecord]:
        """`recall`, async."""
        if _has_vector_index(store):
            return _records(_in_scope(await store.asearch(namespace, query=task, limit=self.k), namespace))
        return self._lexical(await self._alisting(store, namespace), task)

    def _lexical(self, items: Sequence[Item], task: str) -> list[AuctionRecord]:
        if not items:
            return []
        import bm25s

        texts = [str(item.value.get("task", "")) for item in items]
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        # The query as words, which the retriever maps onto the corpus vocabulary (its own ids would not match).
        query = bm25s.tokenize([task], stopwords="en", return_ids=False, show_progress=False)
        if not query[0]:
            return []
        k = min(self.k, len(items))
        found, scores = retriever.retrieve(query, k=k, show_progress=False)
        ranked = [items[int(index)] for index, score in zip(found[0], scores[0], strict=True) if score > 0]
        return _records(ranked)


@dataclass(frozen=True)
class BoundMemory:
    """An `AuctionMemory` with one run's store and namespace (`AuctionMemory.bind`).

    Examples:
        >>> from langgraph.store.memory import InMemoryStore
        >>> bound = AuctionMemory(k=1).bind(InMemoryStore(), None)
        >>> bound.write(AuctionRecord(auction_id="a1", task="sort a list", winner="small"))
        >>> [r.auction_id for r in bound.recall("sort the list")]
        ['a1']
    """

    memory: AuctionMemory
    store: BaseStore
    namespace: tuple[str, ...]

    def recall(self, task: str) -> list[AuctionRecord]:
        return self.memory.recall(self.store, self.namespace, task)

    async def arecall(self, task: str) -> list[AuctionRecord]:
        return await self.memory.arecall(self.store, self.namespace, task)

    def write(self, record: AuctionRecord) -> None:
        self.memory.write(self.store, self.namespace, record)

    async def awrite(self, record: AuctionRecord) -> None:
        await self.memory.awrite(self.store, self.namespace, record)


def _in_scope(items: Sequence[Item], namespace: tuple[str, ...]) -> list[Item]:
    # A prefix search also returns deeper namespaces: only this scope's own records count, so scopes never leak.
    return [item for item in items if tuple(item.namespace) == namespace]


def _records(items: Sequence[Item]) -> list[AuctionRecord]:
    records = []
    for item in items:
        try:
            records.append(AuctionRecord.model_validate(item.value))
        except ValueError:
            continue  # a foreign item in the namespace is not an auction: skipped, not fatal
    return records


def _has_vector_index(store: BaseStore) -> bool:
    return bool(getattr(store, "index_config", None))
