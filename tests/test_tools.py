"""The agents' tools: the sandboxed Python runner and BM25 search over a local corpus."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from langgraph_sale import sandbox_boundary
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.tools import SearchCorpus, bm25_tool, python_tool, run_python, sandbox_layer
from tests.support import hotpotqa_dir


def test_printed_output_comes_back_with_an_ok_status() -> None:
    run = run_python("print('hello')\nprint(sum(range(10)))")
    assert run.ok and run.exit_code == 0 and not run.timed_out
    assert run.output == "hello\n45\n"
    assert run.status == "ok" and run.seconds > 0


def test_an_exception_gives_its_traceback_and_a_nonzero_status() -> None:
    run = run_python("print('before')\ndef f():\n    return 1 / 0\nf()")
    assert not run.ok and run.exit_code == 1 and run.status == "exit code 1"
    assert run.output.startswith("before\n")  # printed output comes before the traceback, as it happened
    assert "Traceback" in run.output and 'File "main.py", line 3, in f' in run.output
    assert run.output.rstrip().endswith("ZeroDivisionError: division by zero")


def test_an_endless_loop_is_killed_at_the_timeout() -> None:
    run = run_python("print('started', flush=True)\nwhile True:\n    pass", timeout_s=1)
    assert run.timed_out and not run.ok and run.status == "timed out after 1 s"
    assert run.seconds >= 1  # it ran until the timeout (how soon after it was killed is no claim of this test)
    assert "started" in run.output


def test_allocating_far_above_the_memory_limit_fails_and_the_caller_carries_on() -> None:
    run = run_python("big = bytearray(4 * 1024 ** 3)\nprint('unreachable')", memory_mb=128)
    assert not run.ok and run.memory_exceeded and run.status == "memory limit"
    assert "MemoryError" in run.output and "unreachable" not in run.output
    assert run_python("print(len(bytearray(10 * 1024 ** 2)))", memory_mb=128).output == "10485760\n"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    yield server
    server.close()


@pytest.mark.parametrize("network_namespace", ["where available", "never (audit hook only)"])
def test_a_socket_connect_to_a_listening_port_is_refused(
    listener: socket.socket, network_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if network_namespace.startswith("never"):
        monkeypatch.setattr(sandbox_boundary, "network_namespace_prefix", lambda: ())
    port = listener.getsockname()[1]
    code = f"import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', {port}))\nprint('connected')"
    run = run_python(code, timeout_s=5)
    assert not run.ok and "connected" not in run.output
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever reached the port


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['echo', 'escaped'])",
        "import os\nos.system('echo escaped')",
        "import os\nif os.fork() == 0:\n    print('escaped')",
        "import multiprocessing as mp\nmp.get_context('spawn').Process(target=print, args=('escaped',)).start()",
    ],
    ids=["subprocess", "os.system", "os.fork", "multiprocessing"],
)
def test_starting_another_program_is_refused(code: str) -> None:
    run = run_python(code, timeout_s=5)
    assert not run.ok and "PermissionError" in run.output and "escaped\n" not in run.output


def test_files_are_written_only_in_a_fresh_directory_that_disappears(tmp_path: Path) -> None:
    outside = tmp_path / "escape.txt"
    code = (
        "import os\n"
        "open('notes.txt', 'w').write('kept here')\n"
        "print(os.getcwd())\n"
        "print(open('notes.txt').read())\n"
        f"open({str(outside)!r}, 'w').write('escaped')\n"
    )
    run = run_python(code, timeout_s=5)
    workdir, notes = run.output.splitlines()[:2]
    assert notes == "kept here"
    assert "PermissionError" in run.output and not outside.exists()
    if run.layer == "bwrap":  # the run's own directory, mounted as /sandbox: nothing of it is left on the host
        assert workdir == "/sandbox" and not list(Path(tempfile.gettempdir()).glob("sale-python-*/notes.txt"))
    else:
        assert not Path(workdir).exists()
        assert run_python("import os\nprint(os.getcwd())").output.strip() != workdir


def test_the_callers_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALE_TEST_API_KEY", "sk-secret")
    run = run_python("import os\nprint(os.environ.get('SALE_TEST_API_KEY'))")
    assert run.output == "None\n"


def test_long_output_is_truncated_keeping_its_start_and_end() -> None:
    run = run_python("print('first')\nfor i in range(100_000):\n    print(i)\nprint('last')", max_output_chars=200)
    assert run.ok
    assert run.output.startswith("first\n") and run.output.rstrip().endswith("last")
    assert "characters omitted" in run.output and len(run.output) < 260


def test_python_tool_takes_one_code_argument_and_returns_status_then_output() -> None:
    tool = python_tool(timeout_s=5, name="python")
    assert tool.name == "python"
    assert list(tool.args) == ["code"]
    layer = sandbox_layer()
    assert tool.invoke({"code": "print(2 ** 10)"}) == f"status: ok (sandbox: {layer})\noutput:\n1024"
    assert tool.invoke({"code": "import sys\nsys.exit(3)"}) == (f"status: exit code 3 (sandbox: {layer})\n"
                                                                 "output:\n(no output)")


async def test_python_tool_runs_through_ainvoke() -> None:
    tool = python_tool(timeout_s=5)
    assert await tool.ainvoke({"code": "print('async')"}) == f"status: ok (sandbox: {sandbox_layer()})\noutput:\nasync"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"memory_mb": 1}, "memory_mb"),
        ({"max_output_chars": 0}, "max_output_chars"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_python_tool_options_name_the_option(options: dict[str, object], field: str) -> None:
    with pytest.raises(AuctionConfigError) as error:
        python_tool(**options)  # type: ignore[arg-type]
    assert error.value.field == field


DOCUMENTS = [
    {"id": "py", "title": "Python", "text": "Python is a programming language created by Guido van Rossum."},
    {"id": "cobra", "title": "Cobra", "text": "The king cobra is a venomous snake of Asian forests."},
    {"id": "rust", "title": "Rust", "text": "Rust is a programming language focused on memory safety."},
    {"id": "nile", "title": "Nile", "text": "The Nile is a river in Africa."},
]


@pytest.fixture(scope="module")
def corpus() -> SearchCorpus:
    return SearchCorpus(DOCUMENTS)


def test_the_relevant_document_ranks_first(corpus: SearchCorpus) -> None:
    hits = corpus.search("who created the Python language", k=3)
    assert hits[0].doc_id == "py" and hits[0].title == "Python"
    assert hits[0].text == DOCUMENTS[0]["text"]
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert corpus.search("venomous snake")[0].doc_id == "cobra"


def test_k_limits_the_results_and_unrelated_documents_are_left_out(corpus: SearchCorpus) -> None:
    assert len(corpus.search("programming language", k=1)) == 1
    assert {hit.doc_id for hit in corpus.search("programming language", k=4)} == {"py", "rust"}
    assert corpus.search("the of and", k=3) == []  # only stopwords
    assert corpus.search("", k=3) == []


def test_the_tool_returns_numbered_titled_passages_cut_to_length(corpus: SearchCorpus) -> None:
    search = bm25_tool(corpus, k=2, max_chars_per_doc=30)
    assert list(search.args) == ["query"]
    answer = search.invoke({"query": "programming language memory safety"})
    assert answer == "[1] Rust\nRust is a programming language …\n\n[2] Python\nPython is a programming …"


async def test_the_tool_answers_an_empty_or_unmatched_query_with_a_message(corpus: SearchCorpus) -> None:
    search = bm25_tool(corpus)
    assert "empty" in search.invoke({"query": "   "})
    assert "No document matches" in await search.ainvoke({"query": "zebra"})


def test_from_jsonl_reads_the_named_keys(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"pid": f"p{i}", "heading": d["title"], "body": d["text"]}) for i, d in enumerate(DOCUMENTS)]
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    corpus = SearchCorpus.from_jsonl(path, text_key="body", title_key="heading", id_key="pid")
    assert len(corpus) == 4
    hit = corpus.search("river Africa", k=1)[0]
    assert (hit.doc_id, hit.title) == ("p3", "Nile")


def test_an_empty_corpus_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="corpus is empty"):
        SearchCorpus([])


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_a_bad_k_is_an_error_naming_k(corpus: SearchCorpus, k: object) -> None:
    with pytest.raises(AuctionConfigError) as error:
        bm25_tool(corpus, k=k)  # type: ignore[arg-type]
    assert error.value.field == "k"
    with pytest.raises(AuctionConfigError, match="^k: "):
        corpus.search("python", k=k)  # type: ignore[arg-type]


@pytest.mark.real("hotpotqa")
def test_search_finds_gold_paragraphs_of_hotpotqa_questions() -> None:
    hotpotqa = hotpotqa_dir()
    assert hotpotqa is not None
    paragraphs = json.loads((hotpotqa / "hotpotqa_train_corpus.json").read_text(encoding="utf-8"))
    questions = json.loads((hotpotqa / "hotpotqa_train.json").read_text(encoding="utf-8"))
    corpus = SearchCorpus([{"id": title, "title": title, "text": "".join(s)} for title, s in paragraphs.items()])
    assert len(corpus) == len(paragraphs)
    found = 0
    for question in questions:
        gold = {title for title, _ in question["supporting_facts"]}
        found += bool(gold & {hit.title for hit in corpus.search(question["question"], k=5)})
    assert found / len(questions) >= 0.9  # at least one gold paragraph in the top 5 (0.98 measured)
    answer = bm25_tool(corpus, k=2).invoke({"query": questions[0]["question"]})
    assert answer.startswith("[1] ") and "\n\n[2] " in answer
