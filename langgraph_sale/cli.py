"""The `langgraph-sale` command line.

    langgraph-sale fit examples.jsonl --out weights.json [--lam L] [--bound B] [--objective minmax|mean]
    langgraph-sale fit --from-bench RUN --split train --out weights.json [--paper-program]

`fit` fits `AuctionWeights` from recorded auctions whose bidders all executed (see `langgraph_sale.fit` for the
file format and the program), writes the JSON that `AuctionWeights.load` reads, and prints the weights with the
training pass rate and cost against always running the largest bidder and against the oracle. `bench` runs the
benchmark harness (`langgraph_sale.bench.cli`); `report` makes every published table again from the committed
record (`langgraph_sale.bench.publish`).

Each subcommand is one `_add_<name>(subparsers)` function that declares its arguments and sets `handler`;
`main` dispatches on it, so adding a subcommand touches nothing else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from langgraph_sale.errors import AuctionConfigError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="langgraph-sale", description="SALE strategy auctions for LangGraph.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_fit(subparsers)
    _add_bench(subparsers)
    _add_report(subparsers)
    return parser


def _add_bench(subparsers: Any) -> None:
    # The harness registers its own arguments and handler; imported here so `fit` does not load it.
    from langgraph_sale.bench.cli import add_parser

    add_parser(subparsers)


def _add_report(subparsers: Any) -> None:
    from langgraph_sale.bench.publish import add_parser

    add_parser(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 2 bad input or options)."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except AuctionConfigError as err:
        print(f"langgraph-sale {args.command}: error: {err}", file=sys.stderr)
        return 2
    return status


# ---- fit ----------------------------------------------------------------------------------------------------------
def _add_fit(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fit = subparsers.add_parser(
        "fit", help="fit the score weights from recorded auctions with known outcomes",
        description="Fit AuctionWeights from tasks on which every bidder bid and executed once, by the paper's "
                    "min-max program made well posed (scipy.optimize.milp), and write them as JSON.")
    fit.add_argument("examples", nargs="?", default=None,
                     help="training examples: JSON Lines, one task a line (see langgraph_sale.fit)")
    fit.add_argument("--from-bench", default=None, metavar="RUN",
                     help="take the examples from a bench run folder instead (langgraph_sale.bench.fitdata)")
    fit.add_argument("--split", default="train", choices=["all", "train", "dev", "test"],
                     help="with --from-bench: the tasks to fit on (default train; test is dev's earlier name)")
    fit.add_argument("--method", default="sale_nomem", help="with --from-bench: the SALE rows to read bids from")
    fit.add_argument("--out", required=True, help="where to write the weights JSON")
    fit.add_argument("--lam", type=float, default=None,
                     help="successes per dollar in the loss lam*cost - success (default: 0.5 / the dearest run)")
    fit.add_argument("--bound", type=float, default=1.0, help="weights lie in [-bound, bound] (default 1)")
    fit.add_argument("--objective", choices=["minmax", "mean"], default="minmax",
                     help="minimise the worst task's loss (default, the paper's) or the mean loss")
    fit.add_argument("--eps", type=float, default=1e-3, help="weight of the mean loss as the min-max tie-break")
    fit.add_argument("--margin", type=float, default=1e-3,
                     help="score gap a decision must clear, as a fraction of bound (default 0.001)")
    fit.add_argument("--M", dest="big_m", type=float, default=None, metavar="M",
                     help="one big-M for all pairs (default: scaled per pair from the features)")
    fit.add_argument("--free-cost-sign", action="store_true", help="let w_cost go negative (default: >= 0)")
    fit.add_argument("--free-juror-sign", action="store_true", help="let juror weights go negative (default: >= 0)")
    fit.add_argument("--paper-program", action="store_true",
                     help="the paper's program as published: jurors' calls are not charged to the loss (by default "
                          "a juror with a non-zero weight pays for its calls on every task)")
    fit.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve, two solves (default 30)")
    fit.add_argument("--value", action="store_true",
                     help="fit the learned value instead (langgraph_sale.value: a logistic model of each bidder's "
                          "success, cross-fitted, scikit-learn) and write the ValueModel JSON")
    fit.add_argument("--folds", type=int, default=5, help="with --value: cross-fitting folds (default 5)")
    fit.add_argument("--features", default=None,
                     help="with --value: comma-separated features of the model (default: the bid's own, "
                          "entropy,plan_tokens,task_chars; also self_score, peer_score)")
    fit.add_argument("--ablation", action="store_true",
                     help="with --value: fit each feature set of the ablation (value_ablation.ABLATION_SETS), print "
                          "what each predicts and how it routes, and write the table as JSON to --out")
    fit.add_argument("--evaluate", default=None, metavar="MODEL",
                     help="with --value: measure this fitted ValueModel on the examples (tasks it never saw) instead "
                          "of fitting one, and write the measurements as JSON to --out")
    fit.add_argument("--memory-k", type=int, default=None, metavar="K",
                     help="with --from-bench --value: fill the memory feature from the K most similar other tasks "
                          "(for --ablation)")
    fit.set_defaults(handler=_run_fit)


def _run_fit(args: argparse.Namespace) -> int:
    from langgraph_sale.fit import fit_weights
    from langgraph_sale.fit_examples import load_examples

    if (args.examples is None) == (args.from_bench is None):
        raise AuctionConfigError("examples", "give an examples file or --from-bench RUN (one of the two)")
    if args.from_bench is not None:
        from langgraph_sale.bench.fitdata import fit_examples

        examples = fit_examples(args.from_bench, split=args.split, method=args.method, memory_k=args.memory_k)
    else:
        if args.memory_k is not None:
            raise AuctionConfigError("--memory-k", "needs --from-bench: the memory feature is read from a bench run")
        examples = load_examples(args.examples)
    if args.value:
        return _run_value_fit(args, examples)
    if args.paper_program:
        examples = [example.model_copy(update={"jury_cost_usd": {}}) for example in examples]
    result = fit_weights(
        examples, lam=args.lam, bound=args.bound, objective=args.objective, eps=args.eps, margin=args.margin,
        M=args.big_m, nonneg_cost=not args.free_cost_sign, nonneg_jurors=not args.free_juror_sign,
        time_limit=args.time_limit)
    try:
        result.weights.save(args.out)
    except OSError as err:
        raise AuctionConfigError("--out", f"cannot write {args.out}: {err}") from err

    weights = result.weights
    print(f"Weights written to {args.out}:")
    print(f"  w_cost     {weights.w_cost:+.6g}")
    print(f"  w_entropy  {weights.w_entropy:+.6g}")
    for juror, weight in weights.w_jury.items():
        print(f"  juror {juror:<12} {weight:+.6g}")
    print(f"  jury_default {weights.jury_default} (jurors not seen in training are not asked)")
    print()
    print(f"{len(examples)} tasks, objective {result.objective}, lam {result.lam:.6g} successes per $; "
          f"loss = lam * cost - success")
    header = f"{'routing':<24} {'passed':>8} {'pass rate':>10} {'cost $':>12} {'mean loss':>10} {'worst loss':>11}"
    print(header)
    print("-" * len(header))
    labels = {"fitted": "fitted", "always_largest": "always largest", "always_cheapest": "always cheapest",
              "oracle": "oracle"}
    for key, label in labels.items():
        s = result.summaries[key]
        if key.startswith("always"):
            label = f"{label} ({', '.join(s.picks)})"
        print(f"{label:<24} {s.passed:>4}/{s.tasks:<3} {s.pass_rate:>10.3f} {s.total_cost_usd:>12.6g} "
              f"{s.mean_loss:>10.4f} {s.worst_loss:>11.4f}")
    fitted = result.summaries["fitted"]
    print(f"fitted picks: {', '.join(f'{name} {count}' for name, count in fitted.picks.items())}")
    for key, label in (("always_largest", "always largest"), ("oracle", "oracle")):
        other = result.summaries[key]
        ratio = fitted.total_cost_usd / other.total_cost_usd if other.total_cost_usd > 0 else float("nan")
        print(f"fitted vs {label}: pass rate {fitted.pass_rate - other.pass_rate:+.3f}, cost {ratio:.3g}x")
    print(f"solver: {result.status} ({result.solve_s:.2f} s){'' if result.optimal else ' - NOT proven optimal'}")
    if not result.consistent:
        print("note: on some task the scorer's choice differs from the program's (missing jury scores are "
              "approximated in the fit); the figures above are the scorer's")
    return 0


def _run_value_fit(args: argparse.Namespace, examples: Sequence[Any]) -> int:
    from langgraph_sale.value import BID_FEATURES
    from langgraph_sale.value_fit import fit_value_model

    if args.ablation:
        return _run_value_ablation(args, examples)
    if args.evaluate is not None:
        return _run_value_evaluation(args, examples)
    features = BID_FEATURES if args.features is None else tuple(f.strip() for f in args.features.split(",") if f)
    fitted = fit_value_model(examples, lam=args.lam, folds=args.folds, features=features)
    _written(args.out, lambda: fitted.model.save(args.out))
    print(f"Value model written to {args.out}: w_value {fitted.model.w_value:.4g}, features "
          f"{', '.join(fitted.model.features)}")
    print(f"{len(examples)} tasks, {args.folds}-fold cross-fitted; lam {fitted.lam:.6g} successes per $")
    for bidder, area in fitted.auc_success.items():
        print(f"  {bidder:<20} AUC of its own success {'-' if area is None else f'{area:.3f}'}, "
              f"Brier {fitted.brier[bidder]:.3f}")
    print(f"  gain (the largest succeeds where the cheapest fails): AUC "
          f"{'-' if fitted.auc_gain is None else f'{fitted.auc_gain:.3f}'}")
    print(f"{'routing (out of fold)':<24} {'passed':>8} {'pass rate':>10} {'cost $':>12} {'mean loss':>10}")
    for key, summary in fitted.routing.items():
        print(f"{key:<24} {summary.passed:>4}/{summary.tasks:<3} {summary.pass_rate:>10.3f} "
              f"{summary.total_cost_usd:>12.6g} {summary.mean_loss:>10.4f}")
    return 0


def _written(path: str, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as err:
        raise AuctionConfigError("--out", f"cannot write {path}: {err}") from err


def _run_value_ablation(args: argparse.Namespace, examples: Sequence[Any]) -> int:
    from langgraph_sale.value_ablation import ablate_value

    if args.features is not None:
        raise AuctionConfigError("--features", "--ablation fits its own feature sets (value_ablation.ABLATION_SETS)")
    ablation = ablate_value(examples, lam=args.lam, folds=args.folds, memory_k=args.memory_k)
    _written(args.out, lambda: ablation.save(args.out))
    print(f"{len(examples)} tasks, {args.folds}-fold cross-fitted; ablation written to {args.out}")
    return _print_value_rows(ablation, [c.bidder for c in examples[0].candidates])


def _run_value_evaluation(args: argparse.Namespace, examples: Sequence[Any]) -> int:
    from langgraph_sale.value import ValueModel
    from langgraph_sale.value_ablation import evaluate_value

    if args.features is not None:
        raise AuctionConfigError("--features", "--evaluate measures the model as it was fitted")
    measured = evaluate_value(ValueModel.load(args.evaluate), examples, lam=args.lam)
    _written(args.out, lambda: measured.save(args.out))
    print(f"{args.evaluate} measured on {len(examples)} tasks it was not fitted on; written to {args.out}")
    return _print_value_rows(measured, [c.bidder for c in examples[0].candidates])


def _print_value_rows(ablation: Any, names: Sequence[str]) -> int:
    print(f"{'features':<14} " + " ".join(f"{'AUC ' + n:>22}" for n in names)
          + f" {'AUC gain':>9} {'pass rate':>10} {'cost $':>11} {'mean loss':>10}")
    for row in ablation.rows:
        aucs = " ".join(f"{'-' if row.auc_success[n] is None else f'{row.auc_success[n]:.3f}':>22}" for n in names)
        gain = "-" if row.auc_gain is None else f"{row.auc_gain:.3f}"
        print(f"{row.name:<14} {aucs} {gain:>9} {row.routing.pass_rate:>10.3f} "
              f"{row.routing.total_cost_usd:>11.5g} {row.routing.mean_loss:>10.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
