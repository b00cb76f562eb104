"""A pool described in one TOML file: who bids, on which provider, at what price, with which tools and limits.

```toml
[[bidder]]
name = "small"
provider = "local"                       # the package's llama-server pool (python -m langgraph_sale.local install)
model = "qwen2.5-coder-0.5b-instruct"
price = 0.06                             # $ per million tokens, every kind of token

[[bidder]]
name = "large"
provider = "openai"                      # any OpenAI-compatible endpoint
model = "gpt-4o-mini"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"           # the variable holding the key (never the key itself)
price = { input = 0.15, cached_input = 0.075, output = 0.60 }
tools = ["python"]
timeout_s = 120
max_concurrency = 16                     # calls in flight on this endpoint at once
max_retries = 4                          # a rate limit (429) or dropped connection, retried with backoff
```

`load_pool_spec(path)` reads and checks the file (an error names the file, the bidder and the field);
`PoolSpec.bidders()` makes the `Bidder`s; `open_pool(path)` does both and starts the local server where a bidder
needs it. The bench (`langgraph-sale bench --pool-file FILE`), the examples and the Studio graph factory
(`LANGGRAPH_SALE_POOL=FILE`) read the same file.

Providers: `openai` (`ChatOpenAI`; any OpenAI-compatible `base_url`), `ollama` (`ChatOllama`; `base_url` default
`http://127.0.0.1:11434`), `local` (the package's own llama-server pool: `ChatOpenAI` on its router, with GBNF
grammars and JSON tool decisions, as `langgraph_sale.local.local_bidders`). Bidders on one endpoint (provider and
base URL) share one `CallLimiter`, sized by the smallest `max_concurrency` among them (the local pool: 1 unless
given, since parallel calls to one 2-core server are slower than one at a time).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.limits import CallLimiter
from langgraph_sale.pricing import Pricing

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["PriceSpec", "BidderSpec", "PoolSpec", "load_pool_spec", "pool_spec", "load_pool", "open_pool",
           "chosen_pool", "POOL_ENV", "PROVIDERS", "TOOLS", "LOCAL_POOL_FILE"]

POOL_ENV = "LANGGRAPH_SALE_POOL"
"""The environment variable naming a pool file, read by the Studio graph factory and the examples."""
PROVIDERS = ("openai", "ollama", "local")
OLLAMA_URL = "http://127.0.0.1:11434"
LOCAL_POOL_FILE = Path(__file__).parent / "pools" / "local.toml"
"""The package's local pool as a pool file (its three models at the default prices)."""
_BIDDER_FIELD = re.compile(r"^Bidder(\([^)]*\))?\.")
"""How `Bidder` names its own fields in errors (`Bidder.name`, `Bidder(small).tools`), taken off for the file's."""
_UNSTARTED = "http://127.0.0.1:9/v1"
"""Where a local bidder points before its server is started (calls are keyed by model options, never by URL)."""


def _python_tool() -> Any:
    from langgraph_sale.tools import python_tool

    return python_tool()


TOOLS: dict[str, Callable[[], Any]] = {"python": _python_tool}
"""The tools a pool file can give a bidder's default executor, by name."""


class PriceSpec(BaseModel):
    """A provider's prices in $ per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)
    cached_input: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class BidderSpec(BaseModel):
    """One `[[bidder]]` of a pool file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    provider: Literal["openai", "ollama", "local"]
    model: str = Field(min_length=1)
    price: float | PriceSpec = Field(union_mode="left_to_right")
    """$ per million tokens: one number for every kind of token, or `{input, cached_input, output}`."""
    base_url: str | None = None
    api_key_env: str | None = None
    """The environment variable holding the endpoint's key (openai); never the key itself."""
    description: str = ""
    tools: tuple[str, ...] = ()
    timeout_s: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    max_concurrency: int | None = Field(default=None, ge=1)
    max_retries: int = Field(default=2, ge=0)
    """Retries of a call that met a rate limit (HTTP 429), a server error or a dropped connection, with the client's
    own exponential backoff (openai and local bidders)."""
    logprobs: bool = True
    """Ask for top-5 logprobs (the plan entropy); turn off for an endpoint without them."""
    temperature: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1)
    """Output cap of every call (the auction's smaller caps for bids and jury answers apply on top)."""

    @property
    def pricing(self) -> Pricing:
        if isinstance(self.price, PriceSpec):
            return Pricing(input=self.price.input, output=self.price.output, cached_input=self.price.cached_input)
        return Pricing.of(self.price)

    @property
    def endpoint(self) -> tuple[str, str | None]:
        """The endpoint its calls go to: bidders on one share a limiter."""
        return self.provider, self.base_url

    def check(self) -> None:
        """What a schema cannot say: known tools, a base URL where the provider needs one, a key variable that
        is set."""
        unknown = [tool for tool in self.tools if tool not in TOOLS]
        if unknown:
            raise ValueError(f"tools: unknown {unknown}; known: {sorted(TOOLS)}")
        if self.provider == "openai" and not self.base_url:
            raise ValueError("base_url: an openai bidder needs the endpoint's URL")
        if self.provider != "openai" and self.api_key_env:
            raise ValueError(f"api_key_env: only an openai bidder takes a key, not a {self.provider} one")


class PoolSpec(BaseModel):
    """A pool file's content: its bidders, cheapest first once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bidder: tuple[BidderSpec, ...] = Field(min_length=1)

    @property
    def needs_local_server(self) -> bool:
        """A bidder runs on the package's local pool with no URL of its own."""
        return any(spec.provider == "local" and not spec.base_url for spec in self.bidder)

    def fingerprint(self) -> list[dict[str, Any]]:
        """What calls through this pool depend on, for a bench run's fingerprint (no key, no limit)."""
        return [spec.model_dump(mode="json", exclude={"api_key_env", "timeout_s", "max_concurrency", "max_retries",
                                                      "description"}) for spec in self.bidder]

    def bidders(self, *, local_url: str | None = None, where: str = "pool") -> list[Bidder]:
        """The pool's `Bidder`s, cheapest first (by output price, file order on a tie).

        Args:
            local_url: The local server's OpenAI-compatible URL (`LocalServer().openai_url`), for `local` bidders
                with no `base_url`; None points them at an unstarted address (a replay that calls nothing).
            where: How errors name the pool (its file).

        Raises:
            AuctionConfigError: Naming the bidder and the field: a bad name, a key variable that is not set.
        """
        limiters = _limiters(self.bidder)
        built = []
        for spec in self.bidder:
            field = f"{where}: bidder {spec.name!r}"
            try:
                built.append(Bidder(
                    spec.name, _chat_model(spec, local_url or _UNSTARTED), spec.pricing,
                    tools=[TOOLS[tool]() for tool in spec.tools], description=spec.description or spec.model,
                    limiter=limiters[spec.endpoint], tool_calling="json" if spec.provider == "local" else "native",
                    grammar=spec.provider == "local"))
            except AuctionConfigError as err:  # Bidder's own field names ("Bidder(x).tools") become the file's
                raise AuctionConfigError(f"{field}: {_BIDDER_FIELD.sub('', err.field)}", err.problem) from None
        order = [spec.name for spec in self.bidder]
        return sorted(built, key=lambda b: (b.price_per_mtok, order.index(b.name)))


def _limiters(specs: Sequence[BidderSpec]) -> dict[tuple[str, str | None], CallLimiter | None]:
    """One limiter per endpoint, sized by the smallest `max_concurrency` declared on it (the local pool: 1)."""
    sizes: dict[tuple[str, str | None], int | None] = {}
    for spec in specs:
        declared = spec.max_concurrency if spec.max_concurrency is not None else (
            1 if spec.provider == "local" else None)
        current = sizes.get(spec.endpoint)
        sizes[spec.endpoint] = declared if current is None else (current if declared is None
                                                                   else min(current, declared))
    return {endpoint: CallLimiter(size) if size else None for endpoint, size in sizes.items()}


def _chat_model(spec: BidderSpec, local_url: str) -> BaseChatModel:
    """The chat model of one bidder, as its provider serves it."""
    if spec.provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(model=spec.model, base_url=spec.base_url or OLLAMA_URL, temperature=spec.temperature,
                          logprobs=spec.logprobs, top_logprobs=5 if spec.logprobs else None,
                          num_predict=spec.max_tokens, client_kwargs={"timeout": spec.timeout_s})
    from langchain_openai import ChatOpenAI

    key = "sk-none"  # local and keyless OpenAI-compatible servers ignore it
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env, "")
        if not key:
            raise AuctionConfigError("api_key_env", f"the variable {spec.api_key_env} is not set")
    extra: dict[str, Any] = {"logprobs": True, "top_logprobs": 5} if spec.logprobs else {}
    return ChatOpenAI(model=spec.model, base_url=spec.base_url or local_url, api_key=key,  # type: ignore[arg-type]
                      temperature=spec.temperature, timeout=spec.timeout_s, max_retries=spec.max_retries,
                      stream_usage=True,
                      max_tokens=spec.max_tokens, **extra)  # type: ignore[call-arg]  # alias of max_completion_tokens


def load_pool_spec(path: str | Path) -> PoolSpec:
    """Read and check a pool file.

    Raises:
        AuctionConfigError: Naming the file, and where it can the bidder and the field: a missing file, TOML that
            does not parse, an unknown or missing field, a bad value.

    Examples:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        ...     _ = handle.write('[[bidder]]\\nname = "small"\\nprovider = "local"\\nmodel = "m"\\nprice = "cheap"\\n')
        >>> load_pool_spec(handle.name)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_sale.errors.AuctionConfigError: ...: bidder 'small': price: must be a number ...
    """
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuctionConfigError(where, "no such pool file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise AuctionConfigError(where, f"is not valid TOML: {err}") from None
    return pool_spec(data, where=where)


def pool_spec(data: Mapping[str, Any], *, where: str = "pool") -> PoolSpec:
    """A `PoolSpec` from a parsed pool file (a mapping with a `bidder` list), checked as `load_pool_spec` does."""
    try:
        spec = PoolSpec.model_validate(data)
    except ValidationError as err:
        raise AuctionConfigError(*_located(err, data, where)) from None
    names = [b.name for b in spec.bidder]
    for position, bidder in enumerate(spec.bidder):
        if bidder.name in names[:position]:
            raise AuctionConfigError(f"{where}: bidder {bidder.name!r}: name", "is used by two bidders")
        try:
            bidder.check()
        except ValueError as err:
            field, _, reason = str(err).partition(": ")
            raise AuctionConfigError(f"{where}: bidder {bidder.name!r}: {field}", reason) from None
    return spec


def _located(err: ValidationError, data: Mapping[str, Any], where: str) -> tuple[str, str]:
    """The first error of a pool file's validation as (where: bidder 'name': field, reason)."""
    first = _closest(err.errors(), data)
    location = [str(part) for part in first["loc"]]
    if location[:1] == ["bidder"] and len(location) > 1 and location[1].isdigit():
        entries = data.get("bidder") or []
        entry = entries[int(location[1])] if int(location[1]) < len(entries) else {}
        name = entry.get("name") if isinstance(entry, Mapping) else None
        who = f"bidder {name!r}" if isinstance(name, str) else f"bidder #{int(location[1]) + 1}"
        # A union's member name (float, PriceSpec) is pydantic's, not the file's: the field is what precedes it.
        field = ".".join(part for part in location[2:] if part not in ("float", "PriceSpec")) or "entry"
        return f"{where}: {who}: {field}", _reason(first, field)
    if location[:1] == ["bidder"] and len(location) == 1:
        return f"{where}: bidder", "needs at least one [[bidder]] table"
    return f"{where}: {'.'.join(location) or 'file'}", _reason(first, ".".join(location))


def _closest(errors: Sequence[Any], data: Mapping[str, Any]) -> Any:
    """The error to report: of a price's two forms, the one the file used (a table is a `PriceSpec`)."""
    for error in errors:
        location = list(error["loc"])
        if "price" in location and ("float" in location or "PriceSpec" in location):
            value: Any = data
            for part in location[:location.index("price") + 1]:
                value = value[part] if isinstance(value, (Mapping, list)) else None
            if ("PriceSpec" in location) == isinstance(value, Mapping):
                return error
    return errors[0]


def _reason(error: Mapping[str, Any], field: str) -> str:
    if error["type"] == "missing":
        return "is missing"
    if error["type"] == "extra_forbidden":
        return "is not a pool file field"
    if field == "price" or field.startswith("price."):
        return f"must be a number or {{input, cached_input, output}} in $ per million tokens >= 0 ({error['msg']})"
    return str(error["msg"])


def load_pool(path: str | Path, *, local_url: str | None = None) -> list[Bidder]:
    """The `Bidder`s a pool file describes (`load_pool_spec(path).bidders(local_url=...)`).

    Raises:
        AuctionConfigError: As `load_pool_spec` and `PoolSpec.bidders`.
    """
    return load_pool_spec(path).bidders(local_url=local_url, where=str(path))


@contextlib.contextmanager
def open_pool(path: str | Path, *, say: Callable[[str], None] | None = print) -> Iterator[list[Bidder]]:
    """The pool a file describes, with the package's local server installed and started (or reused) where a
    `local` bidder needs it, and stopped afterwards if this call started it.

    Examples:
        >>> with open_pool("pool.toml") as pool:  # doctest: +SKIP
        ...     app = create_auction(pool).compile()
    """
    spec = load_pool_spec(path)
    if not spec.needs_local_server:
        yield spec.bidders(where=str(path))
        return
    from langgraph_sale.local import LocalServer, ensure_pool

    ensure_pool()
    with LocalServer() as server:
        if say is not None:
            say(f"Local pool at {server.base_url} ({'reused' if server.reused else 'started'})")
        yield spec.bidders(local_url=server.openai_url, where=str(path))


@contextlib.contextmanager
def chosen_pool(pool_file: str | Path | None = None, *, local: bool = False,
                say: Callable[[str], None] | None = print) -> Iterator[list[Bidder]]:
    """The pool a script runs on (the examples' `--pool-file` and `--local`): the pool file given, or the one
    `LANGGRAPH_SALE_POOL` names; else the package's local pool with `local=True`; else the scripted fake pool.

    Examples:
        >>> with chosen_pool(None) as pool:  # no file named, not local: the fake pool
        ...     [bidder.name for bidder in pool]
        ['tiny', 'small', 'large']
    """
    path = pool_file or os.environ.get(POOL_ENV)
    if path:
        with open_pool(path, say=say) as pool:
            yield pool
    elif local:
        from langgraph_sale.local import local_pool

        with local_pool(say=say) as pool:
            yield pool
    else:
        from langgraph_sale.testing import fake_pool

        yield fake_pool()
