"""A search pool: bidders with a BM25 search tool over a local corpus, for questions that need two look-ups.

Every bidder gets `bm25_tool(corpus)` through the JSON decision step (`tool_calling="json"`). The default corpus
is `examples/data/sample_corpus.jsonl`, 20 short passages written for this example (LangGraph and SALE concepts,
a few general-knowledge distractors). `--hotpotqa N` instead asks question N of the HotpotQA subset in
`shared/data/hotpotqa_hipporag` (CC BY-SA 4.0, read in place, never copied), over its 994-paragraph corpus. An
`evaluate` callback checks the answer against the gold answer.

    python examples/search_pool.py                  # scripted fakes over the sample corpus (a second or two)
    python examples/search_pool.py --hotpotqa 0     # the HotpotQA corpus (scripted fakes cannot read: use --local)
    python examples/search_pool.py --local          # the three real local models (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from langgraph_sale import Bidder, create_auction
from langgraph_sale.local import local_pool
from langgraph_sale.report import format_auction
from langgraph_sale.testing import ScriptedChatModel
from langgraph_sale.tools import SearchCorpus, bm25_tool

HERE = Path(__file__).resolve().parent
QUESTION = ("Which LangGraph primitive does the SALE auction use to run its bids in parallel, and what general "
            "pattern does that primitive express?")
GOLD = ["send", "map-reduce"]  # every part must appear in the answer
SCRIPT: list[dict[str, Any]] = [  # the scripted winner's JSON decisions: two searches, then the answer
    {"tool": "search", "args": {"query": "SALE auction bids parallel"}},
    {"tool": "search", "args": {"query": "Send pattern"}},
    {"final_answer": "Send: one branch per bidder, LangGraph's way to express map-reduce."},
]


def hotpotqa(data: Path, index: int) -> tuple[SearchCorpus, str, list[str]]:
    folder = data / "hotpotqa_hipporag"
    paragraphs = json.loads((folder / "hotpotqa_train_corpus.json").read_text(encoding="utf-8"))
    item = json.loads((folder / "hotpotqa_train.json").read_text(encoding="utf-8"))[index]
    docs = [{"id": title, "title": title, "text": "".join(sentences)} for title, sentences in paragraphs.items()]
    return SearchCorpus(docs), item["question"], [item["answer"].lower()]


def scripted_pool(tools: list[Any], script: list[dict[str, Any]]) -> list[Bidder]:
    jury = {"vague": 1, "search": 5}
    plans = {"tiny": "1. Answer from memory, a vague plan.",
             "small": "1. search the auction passage. 2. search the primitive it names. 3. Combine both.",
             "large": "1. Split the question into two hops. 2. search each hop with specific keywords. "
                      "3. Cross-check the passages. 4. Answer with both parts and cite them."}
    prices = {"tiny": 0.02, "small": 0.06, "large": 0.54}
    return [Bidder(name, ScriptedChatModel(plans=[plans[name]], jury=jury, answers=script), prices[name],
                   tools=tools, tool_calling="json") for name in plans]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    parser.add_argument("--hotpotqa", type=int, metavar="N", help="ask HotpotQA question N over its corpus")
    parser.add_argument("--data", type=Path, help="the shared data folder (default: shared/data or ../shared/data)")
    args = parser.parse_args()
    corpus = SearchCorpus.from_jsonl(HERE / "data" / "sample_corpus.jsonl")
    question, gold, script = QUESTION, GOLD, list(SCRIPT)
    if args.hotpotqa is not None:
        found = [p for p in (args.data, HERE.parent / "shared" / "data", HERE.parents[1] / "shared" / "data") if p]
        data = next((p for p in found if (p / "hotpotqa_hipporag").is_dir()), None)
        if data is None:
            raise SystemExit("No shared data folder with hotpotqa_hipporag/ found; pass --data DIR.")
        corpus, question, gold = hotpotqa(data, args.hotpotqa)
        script = [{"tool": "search", "args": {"query": question}},
                  {"final_answer": "(scripted: a fake model cannot read the passages; run with --local)"}]
    tools = [bm25_tool(corpus, k=3)]
    with contextlib.ExitStack() as stack:
        # local_bidders gives the tools through a JSON decision step (these models emit no native tool calls).
        pool = stack.enter_context(local_pool(tools=tools)) if args.local else scripted_pool(tools, script)
        app = create_auction(pool, max_steps=4, max_bid_tokens=150 if args.local else 256,
                             evaluate=lambda task, answer: all(part in answer.lower() for part in gold)).compile()
        print(f"Corpus: {len(corpus)} passages. Question: {question}")
        state: dict[str, Any] = {}
        chunk: Any  # a state, or {node: update}
        run = app.stream({"auction_task": question}, stream_mode=["updates", "values", "custom"], subgraphs=True)
        for namespace, mode, chunk in run:
            if mode == "values" and not namespace:
                state = chunk
            elif mode == "custom" and chunk.get("auction_event") in ("bid_submitted", "winner"):
                print(f"  {chunk['auction_event']}: {chunk.get('winner') or chunk['bidder']}", flush=True)
            elif mode == "updates" and "tools" in chunk:  # the winner's searches, inside its executor
                for result in chunk["tools"]["messages"]:
                    titles = [line for line in result.text.splitlines() if line.startswith("[")]
                    print(f"[{namespace[-1].split(':')[0]}] {result.name} -> {'; '.join(titles)}", flush=True)
    print()
    print(format_auction(state))
    print(f"Gold answer: {' + '.join(gold)}")


if __name__ == "__main__":
    main()
