"""BM25 keyword search over a local corpus: `SearchCorpus` indexes documents (with `bm25s`), `bm25_tool` lets a model
search one by keywords (for example the paragraphs of a multi-hop QA set)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_sale.errors import AuctionConfigError, require_int, require_name

__all__ = ["Hit", "SearchCorpus", "bm25_tool"]


@dataclass(frozen=True)
class Hit:
    """One search result: the document's id, title and text, and its BM25 score (higher is better)."""

    doc_id: str
    title: str
    text: str
    score: float


class SearchCorpus:
    """Documents indexed for BM25 keyword search (with `bm25s`, its tokenizer and English stopwords, no stemming).

    A document is a string, or a mapping with `text` and optionally `title` and `id` (default: its position).
    The title is indexed with the text, since multi-hop questions often name the entity a paragraph is about.

    Examples:
        >>> from langgraph_sale.tools import SearchCorpus
        >>> corpus = SearchCorpus([
        ...     {"title": "Paris", "text": "Paris is the capital of France."},
        ...     {"title": "Rome", "text": "Rome is the capital of Italy."},
        ... ])
        >>> [hit.title for hit in corpus.search("capital of Italy", k=1)]
        ['Rome']
    """

    def __init__(self, documents: Iterable[str | Mapping[str, Any]]) -> None:
        import bm25s  # a dependency of the package; imported here, as it loads numpy
        from bm25s.tokenization import Tokenizer

        self._documents = _parse_documents(documents)
        if not self._documents:
            raise AuctionConfigError("documents", "the corpus is empty: give at least one document to search")
        self._tokenizer = Tokenizer(stopwords="en", stemmer=None)
        corpus_tokens = self._tokenizer.tokenize(
            [f"{title}\n{text}" for _, title, text in self._documents],
            update_vocab=True,
            return_as="tuple",
            show_progress=False,
        )
        self._retriever = bm25s.BM25()
        self._retriever.index(corpus_tokens, show_progress=False)

    @classmethod
    def from_jsonl(
        cls, path: str | os.PathLike[str], *, text_key: str = "text", title_key: str = "title", id_key: str = "id"
    ) -> SearchCorpus:
        """A corpus from a JSON Lines file, one object per line; the keys name the fields to read.

        A missing title or id is allowed (empty title, the line's position as id); a missing text is an error.
        """
        documents: list[dict[str, Any]] = []
        with open(path, encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise AuctionConfigError(f"{path}:{line_number}", f"is not valid JSON ({error.msg})") from error
                if not isinstance(record, dict) or text_key not in record:
                    raise AuctionConfigError(f"{path}:{line_number}", f"is not an object with a {text_key!r} key")
                document = {"text": record[text_key], "title": record.get(title_key, "")}
                if id_key in record:
                    document["id"] = record[id_key]
                documents.append(document)
        return cls(documents)

    def __len__(self) -> int:
        return len(self._documents)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The `k` best documents for `query`, best first; only documents sharing a word with it (none for "")."""
        _check_k(k)
        query_ids = self._tokenizer.tokenize(
            [query], update_vocab=False, return_as="ids", show_progress=False, allow_empty=False
        )[0]
        if not query_ids:  # empty, only stopwords, or only words no document has
            return []
        scores = self._retriever.get_scores(query_ids)
        hits = []
        for index in (-scores).argsort(kind="stable")[:k]:
            if scores[index] <= 0:
                break
            doc_id, title, text = self._documents[index]
            hits.append(Hit(doc_id=doc_id, title=title, text=text, score=float(scores[index])))
        return hits


def bm25_tool(
    corpus: SearchCorpus | Sequence[str | Mapping[str, Any]],
    *,
    k: int = 3,
    name: str = "search",
    max_chars_per_doc: int = 1000,
) -> BaseTool:
    """A tool that searches `corpus` by keywords and returns the `k` best passages, numbered and titled.

    Examples:
        >>> from langgraph_sale.tools import bm25_tool
        >>> search = bm25_tool(["Rome is the capital of Italy.", "Paris is the capital of France."], k=2)
        >>> print(search.invoke({"query": "capital of France"}))
        [1]
        Paris is the capital of France.
        <BLANKLINE>
        [2]
        Rome is the capital of Italy.
    """
    _check_k(k)
    require_name("name", name)
    require_int("max_chars_per_doc", max_chars_per_doc)
    index = corpus if isinstance(corpus, SearchCorpus) else SearchCorpus(corpus)

    def search(query: str) -> str:
        if not query.strip():
            return "The query is empty: give a few keywords to search for."
        hits = index.search(query, k)
        if not hits:
            return f"No document matches {query!r}; try other keywords."
        return "\n\n".join(
            f"[{rank}] {hit.title}".rstrip() + f"\n{_shorten(hit.text, max_chars_per_doc)}"
            for rank, hit in enumerate(hits, start=1)
        )

    async def asearch(query: str) -> str:
        return search(query)  # in memory and fast: no thread needed

    description = (
        f"Search a collection of {len(index)} documents by keywords (BM25) and get back the {k} best passages, "
        f"numbered and titled. Use specific words (names, terms) rather than a whole question."
    )
    return StructuredTool.from_function(
        func=search, coroutine=asearch, name=name, description=description, args_schema=_SearchToolInput
    )


class _SearchToolInput(BaseModel):
    query: str = Field(description="Keywords to search for, such as names and specific terms.")


def _check_k(k: int) -> None:
    require_int("k", k)


def _parse_documents(documents: Iterable[str | Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(id, title, text) per document, checked: text is a string, ids are unique."""
    if isinstance(documents, str | bytes | Mapping):
        raise AuctionConfigError("documents", "must be a sequence of documents, not a single one")
    parsed: list[tuple[str, str, str]] = []
    seen_ids: set[str] = set()
    for position, document in enumerate(documents):
        if isinstance(document, str):
            doc_id, title, text = str(position), "", document
        elif isinstance(document, Mapping):
            raw_text = document.get("text")
            if not isinstance(raw_text, str):
                raise AuctionConfigError(f"documents[{position}].text", f"must be a string, got {raw_text!r:.60}")
            text = raw_text
            doc_id = str(document.get("id", position))
            title = str(document.get("title") or "")
        else:
            raise AuctionConfigError(f"documents[{position}]", f"must be a string or a mapping, got {document!r:.60}")
        if doc_id in seen_ids:
            raise AuctionConfigError(f"documents[{position}].id", f"repeats the id {doc_id!r}")
        seen_ids.add(doc_id)
        parsed.append((doc_id, title, text))
    return parsed


def _shorten(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    word_end = cut.rfind(" ")
    if not text[max_chars].isspace() and word_end > max_chars // 2:  # end on a whole word where one is near
        cut = cut[:word_end]
    return cut.rstrip() + " …"
