"""`python -m langgraph_sale.bench [options]`: the `langgraph-sale bench` command."""

from langgraph_sale.bench.cli import main

raise SystemExit(main())
