"""The auction's phases, one node class each, in the order `graph.py` wires them.

| module | node(s) | what it does |
|---|---|---|
| `open` | `OpenAuction` | takes the task, recalls similar auctions where a budget or a skip rule needs them, opens |
| `bid` | `BidNode`, `CollectBids`, `send_bids` | one `Send` per bidder; each bids a plan; the bids are collected |
| `judge` | `JudgeNode`, `send_judgments` | one `Send` per (juror, bid); each juror scores a plan 0-5 |
| `decide` | `ScoreNode`, `AfterScore` | cost minus value; the lowest score wins (or a rewritten bid outbids it) |
| `refine` | `RecallNode`, `send_refines` | the outbid round: bidders cheaper than the leader rewrite from memory |
| `approve` | `ApproveNode` | optional: a person accepts, overrides or rejects the winner |
| `execute` | `ExecuteNode` | the winner runs the task in its own subgraph, guided by its plan |
| `check` | `CheckExecution` | optional (`escalate`): a rejected answer goes to the next bidder up the price ladder |
| `outcome` | `RecordOutcome` | the outcome into state and memory |

Every node holds the `Auction` (the pool and its options, `langgraph_sale.options`) and has one body for `invoke`
and one for `ainvoke` where it waits on anything; each can be built and run alone.
"""
