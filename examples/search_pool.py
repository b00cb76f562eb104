"""A search pool: every bidder's executor is the search agent over a BM25 corpus, for questions that need two look-ups.

Each bidder runs `search_agent(model, search=bm25_tool(corpus))` (`langgraph_sale.agents`): the question is
searched first, then the model searches again or answers, and its answer is the short answer. The default corpus
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
from langgraph_sale.agents import parse_search_step, search_agent
from langgraph_sale.local import local_pool
from langgraph_sale.report import format_auction
from langgraph_sale.testing import ScriptedChatModel
from langgraph_sale.tools import SearchCorpus, bm25_tool

HERE = Path(__file__).resolve().parent
QUESTION = ("Which LangGraph primitive does the SALE auction use to run its bids in parallel, and what general "
            "pattern does that primitive express?")
GOLD = ["send", "map-reduce"]  # every part must appear in the answer
SCRIPT = [  # the scripted winner's turns after the first search (the question itself): one more, then the answer
    "SEARCH: Send map-reduce pattern",
    "ANSWER: Send, one branch per bidder: LangGraph's map-reduce",
]


def hotpotqa(data: Path, index: int) -> tuple[SearchCorpus, str, list[str]]:
    folder = data / "hotpotqa_hipporag"
    paragraphs = json.loads((folder / "hotpotqa_train_corpus.json").read_text(encoding="utf-8"))
    item = json.loads((folder / "hotpotqa_train.json").read_text(encoding="utf-8"))[index]
    docs = [{"id": title, "title": title, "text": "".join(sentences)} for title, sentences in paragraphs.items()]
    return SearchCorpus(docs), item["question"], [item["answer"].lower()]


def scripted_pool(search: Any, script: list[str]) -> list[Bidder]:
    jury = {"vague": 1, "search": 5}
    plans = {"tiny": "1. Answer from memory, a vague plan.",
             "small": "1. search the auction passage. 2. search the primitive it names. 3. Combine both.",
             "large": "1. Split the question into two hops. 2. search each hop with specific keywords. "
                      "3. Cross-check the passages. 4. Answer with both parts and cite them."}
    prices = {"tiny": 0.02, "small": 0.06, "large": 0.54}
    models = {name: ScriptedChatModel(plans=[plans[name]], jury=jury, answers=script) for name in plans}
    return [Bidder(name, model, prices[name], agent=search_agent(model, search=search))
            for name, model in models.items()]


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
        script = ["ANSWER: (scripted: a fake model cannot read the passages; run with --local)"]
    search = bm25_tool(corpus, k=3)
    with contextlib.ExitStack() as stack:
        if args.local:  # the two coder models, each with the search agent as its executor
            coders = ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
            local = stack.enter_context(local_pool(models=coders))
            pool = [Bidder(b.name, b.model, b.pricing, agent=search_agent(b.model, search=search),
                           limiter=b.limiter) for b in local]
        else:
            pool = scripted_pool(search, script)
        app = create_auction(pool, max_bid_tokens=150 if args.local else 256,
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
            elif mode == "updates" and "search" in chunk:  # the winner's searches, inside its search agent
                for result in chunk["search"]["messages"]:
                    titles = [line for line in result.text.splitlines() if line.startswith("[")]
                    print(f"[{namespace[-1].split(':')[0]}] search -> {'; '.join(titles)}", flush=True)
    print()
    print(format_auction(state))
    outcome = state["auction_outcome"]
    kind, answer = parse_search_step(outcome["answer"] or "")
    print(f"Gold answer: {' + '.join(gold)}")
    print(f"Deliverable: a short answer: {kind == 'answer' and len(answer.split()) <= 12} ({answer!r}); "
          f"evaluated: success={outcome['success']}")


if __name__ == "__main__":
    main()
