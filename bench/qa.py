"""Question answering on XQuAD-en: retrieval recall@4, answer EM / token F1, "I don't know" rate.

The 60 XQuAD paragraphs go into one dataset (one row each, MiniLM vectors); each of the
322 questions is asked through `shoal.RetrievalQA`. Measured per answerer: exact match
and token F1 against the gold answers (SQuAD's normalisation, citations removed), whether
the answer holds a gold answer (the fair measure of a sentence-quoting answerer), the
share answered "I don't know", and seconds per answer; then the same questions with
their gold paragraph filtered out of retrieval, where "I don't know" is the right answer.
For generating answerers, also the seconds to the first token (reading the prompt) and
tokens per second after it (writing the answer), from the pieces they stream.

    .venv/bin/python bench/qa.py [--answerers extractive,extractive-sentences,fake-chat,
        local:qwen2.5-coder-0.5b-instruct] [--limit 322] [--every 1] [--answers answers.jsonl]
        [--focus auto,none,N]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import string
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import shoal
from _report import print_table, save_report
from _texts import DATA
from shoal.qa import LLM, ExtractiveLLM, Message, RetrievalQA, llm
from shoal.qa._prompt import parse_chat_prompt


def _load(limit: int) -> tuple[list[str], list[dict[str, Any]]]:
    raw = json.loads((DATA / "xquad" / "xquad.en.dev.json").read_text(encoding="utf-8"))
    paragraphs: list[str] = []
    questions: list[dict[str, Any]] = []
    for article_number, article in enumerate(raw["data"]):
        for paragraph in article["paragraphs"]:
            number = len(paragraphs)
            paragraphs.append(paragraph["context"])
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                questions.append(
                    {"question": qa["question"], "answers": answers, "gold": number,
                     "article": article_number}
                )  # fmt: skip
    return paragraphs, questions[:limit]


def _normalise(text: str) -> list[str]:
    text = re.sub(r"\s*\[\d+\]", "", text).lower()
    text = "".join(c for c in text if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def _f1(prediction: str, gold: str) -> float:
    got, want = _normalise(prediction), _normalise(gold)
    common = sum((collections.Counter(got) & collections.Counter(want)).values())
    if not got or not want or not common:
        return float(got == want)
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


class FirstSentence(LLM):
    """A stand-in chat model that answers with source [1]'s first sentence: checks the prompt path."""

    @property
    def name(self) -> str:
        return "fake-chat"

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        _, sources, refusal = parse_chat_prompt(messages)
        first = sources.get(1, "")
        yield (first.split(". ")[0] + " [1]") if first else refusal


class Timed(LLM):
    """Wraps an answerer to time its generations: seconds to the first piece, pieces, seconds."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.small = inner.small  # so RetrievalQA prompts and guards it as it would the model
        self.first = self.generating = 0.0
        self.pieces = self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        started = time.perf_counter()
        self.calls += 1
        pieces = self.inner.stream(
            messages, max_tokens=max_tokens, temperature=temperature, stop=stop
        )
        first_at: float | None = None
        for piece in pieces:
            now = time.perf_counter()
            if first_at is None:
                first_at = now
                self.first += now - started
            else:
                self.pieces += 1  # llama.cpp streams a token a piece
            yield piece
        if first_at is not None:
            self.generating += time.perf_counter() - first_at


def _answerer(name: str) -> LLM:
    if name == "fake-chat":
        return FirstSentence()
    if name == "extractive-sentences":  # the extractive answerer before spans: whole sentences
        return ExtractiveLLM(spans=False)
    return llm(name)


def _runs(
    names: list[str], focuses: list[int | Literal["auto"] | None]
) -> Iterator[tuple[str, Timed, float, int | Literal["auto"] | None]]:
    """(name, a fresh timer around the answerer, seconds to build it, focus) per run."""
    for name in names:
        loading = time.perf_counter()
        model = _answerer(name)
        load_seconds = time.perf_counter() - loading
        for focus in focuses:
            yield name, Timed(model), load_seconds, focus


# The extractive answerer's span rules were written looking at articles 0-5 only; 6-11 are
# held out, and their F1 is reported on its own.
_HELD_OUT_FROM = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answerers", default="extractive,fake-chat")
    parser.add_argument("--limit", type=int, default=322)
    parser.add_argument(
        "--every", type=int, default=1, help="ask every Nth question (a sample of all articles)"
    )
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--report", default="qa", help="bench/results/<name>.json")
    parser.add_argument("--answers", help="write every answer to this JSON-lines file")
    parser.add_argument(
        "--focus",
        default="auto",
        help="sentences a generating answerer reads, a comma-separated list run in turn: "
        "auto (RetrievalQA's default), none (whole chunks) or a number",
    )
    args = parser.parse_args()
    focuses: list[int | Literal["auto"] | None] = [
        "auto" if f == "auto" else None if f == "none" else int(f) for f in args.focus.split(",")
    ]
    paragraphs, questions = _load(322)
    questions = questions[:: args.every][: args.limit]
    rows: list[dict[str, Any]] = []
    log = open(args.answers, "w", encoding="utf-8") if args.answers else None  # noqa: SIM115
    with tempfile.TemporaryDirectory() as folder:
        dataset = shoal.open(f"{folder}/xquad", embedder="local:all-MiniLM-L6-v2")
        dataset.add(paragraphs, metadatas=[{"paragraph": i} for i in range(len(paragraphs))])
        dataset.commit("xquad paragraphs")
        recall = {}
        for mode in ("vector", "keyword", "hybrid"):
            retriever = dataset.as_retriever(k=args.k, mode=mode)
            found = sum(
                any(h.metadata["paragraph"] == q["gold"] for h in retriever.retrieve(q["question"]))
                for q in questions
            )
            recall[mode] = round(found / len(questions), 3)
        print(f"recall@{args.k}", recall, flush=True)
        for name, answerer, load_seconds, focus in _runs(args.answerers.split(","), focuses):
            qa = RetrievalQA(dataset.as_retriever(k=args.k, mode="hybrid"), answerer, focus=focus)
            em = f1 = contains = unknown = fallback = held_f1 = 0.0
            started = time.perf_counter()
            for q in questions:
                answer = qa.ask(q["question"])
                text = answer.text if answer.known else ""
                em += max(float(_normalise(text) == _normalise(g)) for g in q["answers"])
                f1 += max(_f1(text, g) for g in q["answers"])
                if q["article"] >= _HELD_OUT_FROM:
                    held_f1 += max(_f1(text, g) for g in q["answers"])
                words = " ".join(_normalise(text))
                contains += bool(text) and any(
                    " ".join(_normalise(g)) in words for g in q["answers"]
                )
                unknown += not answer.known
                fallback += answer.fallback
                if log:
                    record = {"answerer": name, "gold": True, "question": q["question"]}
                    record |= {"answers": q["answers"], "text": answer.text}
                    log.write(json.dumps(record | {"fallback": answer.fallback}) + "\n")
            seconds = (time.perf_counter() - started) / len(questions)
            first, pieces, generating = answerer.first, answerer.pieces, answerer.generating
            calls = answerer.calls
            refused = 0
            for q in questions:
                retriever = dataset.as_retriever(
                    k=args.k, mode="hybrid", where={"paragraph": {"$ne": q["gold"]}}
                )
                answer = RetrievalQA(retriever, answerer, focus=focus).ask(q["question"])
                refused += not answer.known
                if log:
                    record = {"answerer": name, "gold": False, "question": q["question"]}
                    record |= {"answers": q["answers"], "text": answer.text}
                    log.write(json.dumps(record | {"fallback": answer.fallback}) + "\n")
            n = len(questions)
            held = sum(q["article"] >= _HELD_OUT_FROM for q in questions) or 1
            row = {
                "answerer": name,
                "focus": qa.focus,
                "exact_match": round(em / n, 3),
                "token_f1": round(f1 / n, 3),
                "token_f1_held_out": round(held_f1 / held, 3),
                "contains_gold": round(contains / n, 3),
                "dont_know_with_gold": round(unknown / n, 3),
                "fallback_share": round(fallback / n, 3),
                "dont_know_without_gold": round(refused / n, 3),
                "seconds_per_answer": round(seconds, 3),
                # The model alone, gold present: prompt reading (to the first token) and writing.
                "seconds_to_first_token": round(first / calls, 3) if calls else None,
                "tokens_per_second": round(pieces / generating, 1) if pieces else None,
                "answer_tokens": round(pieces / calls + 1, 1) if pieces else None,
                "load_seconds": round(load_seconds, 2),
            }
            print(row, flush=True)
            rows.append(row)
    if log:
        log.close()
    save_report(
        args.report,
        "XQuAD-en question answering through RetrievalQA",
        questions=len(questions),
        every=args.every,
        k=args.k,
        recall_at_k=recall,
        rows=rows,
    )
    print_table(
        [
            "answerer",
            "focus",
            "EM",
            "token F1",
            "F1 held out",
            "holds gold",
            "IDK (gold present)",
            "fallback",
            "IDK (gold removed)",
            "s/answer",
            "s to 1st token",
            "tokens/s",
        ],
        [
            [
                r["answerer"],
                "-" if r["focus"] is None else r["focus"],
                r["exact_match"],
                r["token_f1"],
                r["token_f1_held_out"],
                r["contains_gold"],
                r["dont_know_with_gold"],
                r["fallback_share"],
                r["dont_know_without_gold"],
                r["seconds_per_answer"],
                "-" if r["seconds_to_first_token"] is None else r["seconds_to_first_token"],
                "-" if r["tokens_per_second"] is None else r["tokens_per_second"],
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
