"""Where the local LLM's answer time goes: prompt tokens, prompt-eval and decode speed.

Three steps, each a sub-command (run the model ones under the CPU lock)::

    python -m eval.llm_latency prompts --out runs/llm-latency/prompts.json
    python -m eval.llm_latency run --prompts runs/llm-latency/prompts.json
        --threads 2 --batch 512 [--reuse live|none|ram] [--no-grammar] [--label L]
        [--variant NAME] --out runs/llm-latency/run.json
    python -m eval.llm_latency tokens --prompts runs/llm-latency/prompts.json

``prompts`` indexes the bundled samples into a temp data dir and records, for each
question the LLM would be asked (its best sentence clears the abstention threshold),
the exact inputs of the extraction prompt (:func:`qa.llm_extract.extraction_prompt`):
the numbered sentences, the standalone question and the answer language. It needs the
embedding model, not the LLM.

``run`` replays those inputs through the real chat model
(:class:`qa.chat_models.LlamaCppChatModel`, the JSON-schema grammar bound as the answer
path binds it) after the same warm-up ``qa ui`` does (the fixed system prompt
evaluated), one question after the other, and records per question the prompt tokens,
the tokens actually evaluated (the rest came from the KV cache), llama.cpp's own
prompt-eval and decode timings, the time to the first streamed token and the total.
``--reuse none`` evaluates every prompt from scratch; ``--reuse ram`` adds the
``LlamaRAMCache`` snapshot cache. The JSON names the CPU, its flags and the llama.cpp
build (``llama_print_system_info``), so a figure is never without its machine. Run it
with ``PYTHONPATH=<dir>`` to measure another llama-cpp-python build.

``--variant`` replays the same questions with a shortened prompt (fewer shown
sentences, the question once); ``tokens`` counts the prompt tokens of every variant
with the model's tokenizer (no inference).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.bench.common import QUESTIONS  # the seed questions of ``qa bench``

# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """The bench's machine record (CPU model, kind, flags, llama.cpp build, load)."""
    from eval.bench.machine import machine_info

    return machine_info()


def llama_build() -> dict[str, Any]:
    """Version, location and compiled-in CPU features of the imported llama-cpp-python."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return {
        "version": llama_cpp.__version__,
        "path": str(Path(llama_cpp.__file__).parent),
        "system_info": info.decode() if isinstance(info, bytes) else str(info),
    }


def p50(values: Sequence[float]) -> float | None:
    """Median, or None for no values."""
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------- prompts


def build_prompts(questions: Sequence[str]) -> dict[str, Any]:
    """Index the samples in a temp dir and record the extraction prompt's inputs.

    Returns:
        ``{"prompts": [{"question", "inputs": {"sentences", "question", "language"},
        "slot", "sentence_texts"}], "skipped": [...]}``; a skipped question is one the
        answer path would not send to the model (nothing clears the threshold).
    """
    import qa
    from qa.answering import gather_evidence, prepare
    from qa.api import index_paths
    from qa.engine import default_engine
    from qa.llm_extract import format_sentences, language_name
    from qa.settings import Settings

    samples = Path(qa.__file__).resolve().parents[1] / "index" / "samples"
    settings = Settings.from_env().with_(
        data_dir=Path(tempfile.mkdtemp(prefix="llm-latency-")), generator="extractive"
    )
    index_paths([samples], settings=settings)
    index = default_engine(settings).index()
    prompts, skipped = [], []
    for question in questions:
        prepared = prepare(question, (), None, settings, None)
        evidence = gather_evidence(
            prepared.standalone, index=index, settings=settings, filters=prepared.filters
        )
        scored = evidence.scored
        if not scored or scored[0].score < settings.abstain_threshold:
            skipped.append(question)
            continue
        # All ranked sentences up to 8, so shorter variants can be cut from the same list.
        ranked = list(scored[:8])
        prompts.append(
            {
                "question": question,
                "standalone": prepared.standalone,
                "language": language_name(prepared.lang),
                "slot": prepared.slot.value,
                "sentences_by_count": {
                    str(n): format_sentences(ranked[:n]) for n in range(1, len(ranked) + 1)
                },
            }
        )
    return {"prompts": prompts, "skipped": skipped}


# --------------------------------------------------------------------------- variants

#: The user message of the extraction prompt as the answer path sends it.
USER_TEMPLATE = (
    "Question: {question}\nSentences:\n{sentences}\nQuestion: {question}\nLanguage: {language}"
)
#: The same with the question once (after the sentences, where the model reads it last).
USER_TEMPLATE_ONCE = "Sentences:\n{sentences}\nQuestion: {question}\nLanguage: {language}"


def variants() -> dict[str, tuple[int, str]]:
    """Prompt variants: name -> (shown sentences, user-message template)."""
    from qa.llm_extract import SHOWN_SENTENCES

    return {
        "current": (SHOWN_SENTENCES, USER_TEMPLATE),
        "question-once": (SHOWN_SENTENCES, USER_TEMPLATE_ONCE),
        "5-sentences": (5, USER_TEMPLATE),
        "4-sentences": (4, USER_TEMPLATE),
        "4-sentences-question-once": (4, USER_TEMPLATE_ONCE),
    }


def messages_for(
    prompt: dict[str, Any], variant: str, system: str | None = None
) -> list[dict[str, str]]:
    """The chat messages of one question under one prompt variant."""
    from qa.llm_extract import SYSTEM_PROMPT

    count, template = variants()[variant]
    by_count = prompt["sentences_by_count"]
    sentences = by_count.get(str(count)) or by_count[max(by_count, key=int)]
    user = template.format(
        question=prompt["standalone"], sentences=sentences, language=prompt["language"]
    )
    return [
        {"role": "system", "content": system or SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]


def count_tokens(llm: Any, messages: list[dict[str, str]]) -> int:
    """Prompt tokens of chat messages under the GGUF's own chat template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata["tokenizer.chat_template"]
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    text = formatter(messages=messages).prompt
    return len(llm.tokenize(text.encode(), add_bos=False, special=True))


def token_table(prompts: list[dict[str, Any]], model_path: Path) -> dict[str, Any]:
    """Prompt tokens per variant: system part, per-question part, total."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    from qa.llm_extract import SYSTEM_PROMPT

    system_only = count_tokens(llm, [{"role": "system", "content": SYSTEM_PROMPT}])
    table: dict[str, Any] = {"system_prompt_tokens": system_only, "variants": {}}
    for name in variants():
        totals = [count_tokens(llm, messages_for(p, name)) for p in prompts]
        table["variants"][name] = {
            "prompt_tokens_p50": p50(totals),
            "per_question_tokens_p50": p50([t - system_only for t in totals]),
            "per_question_tokens": [t - system_only for t in totals],
        }
    return table


# --------------------------------------------------------------------------- run


def run(
    prompts: list[dict[str, Any]],
    *,
    threads: int,
    batch: int,
    reuse: str,
    grammar: bool,
    variant: str,
    flash_attn: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Replay the prompts through the real chat model, one after another.

    Returns:
        Per-question figures and their medians (seconds, tokens, tokens/s).
    """
    import llama_cpp
    from langchain_core.messages import HumanMessage, SystemMessage

    from qa import chat_models
    from qa.answering import EXTRACTION_MAX_TOKENS
    from qa.llm_assets import model_path
    from qa.llm_extract import SCHEMA
    from qa.settings import Settings

    settings = Settings.from_env()
    path = model_path(settings.llm_model, settings.model_dir)
    pool = chat_models.LocalModels()
    model = chat_models.LlamaCppChatModel(
        model_path=str(path),
        n_ctx=settings.llm_context,
        n_threads=threads,
        n_batch=batch,
        max_tokens=EXTRACTION_MAX_TOKENS,
        reuse_prefix=reuse != "none",
        prompt_cache_bytes=(2 << 30) if reuse == "ram" else 0,
        local_models=pool,
    )
    if flash_attn:
        # Not a chat-model field: load the shared Llama ourselves with flash attention on.
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=settings.llm_context,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=batch,
            n_ubatch=batch,
            flash_attn=True,
            verbose=False,
        )
        pool.add(path, settings.llm_context, threads, batch, llm)
    t = time.perf_counter()
    model.warm_up(
        [
            SystemMessage(messages_for(prompts[0], variant)[0]["content"]),
            HumanMessage("Question: \nSentences:\n\nQuestion: \nLanguage: English"),
        ]
    )
    warm_s = time.perf_counter() - t
    llm = model._loaded().llm
    bound = (
        model.bind(response_format={"type": "json_object", "schema": SCHEMA}) if grammar else model
    )
    rows = []
    for prompt in prompts:
        messages = messages_for(prompt, variant)
        lc_messages = [SystemMessage(messages[0]["content"]), HumanMessage(messages[1]["content"])]
        n_prompt = count_tokens(llm, messages)
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        parts: list[str] = []
        first = None
        t = time.perf_counter()
        for piece in bound.stream(lc_messages):
            if first is None and piece.content:
                first = time.perf_counter() - t
            parts.append(str(piece.content))
        total = time.perf_counter() - t
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        reply = "".join(parts)
        row = {
            "question": prompt["question"],
            "prompt_tokens": n_prompt,
            "evaluated_prompt_tokens": perf.n_p_eval,
            "prompt_eval_s": perf.t_p_eval_ms / 1000,
            "decode_tokens": perf.n_eval,
            "decode_s": perf.t_eval_ms / 1000,
            "ttft_s": first,
            "total_s": total,
            "reply": reply,
        }
        row["prompt_tok_per_s"] = (
            perf.n_p_eval / row["prompt_eval_s"] if row["prompt_eval_s"] else None
        )
        row["decode_tok_per_s"] = perf.n_eval / row["decode_s"] if row["decode_s"] else None
        # Everything llama.cpp's counters do not cover: sampling, the grammar, Python.
        row["other_s"] = total - row["prompt_eval_s"] - row["decode_s"]
        rows.append(row)
        log(
            f"  {prompt['question'][:40]:40} prompt {n_prompt} (evaluated "
            f"{perf.n_p_eval}) ttft {first or 0:.2f}s total {total:.2f}s "
            f"decode {perf.n_eval} tok"
        )
    keys = (
        "prompt_tokens",
        "evaluated_prompt_tokens",
        "prompt_tok_per_s",
        "decode_tokens",
        "decode_tok_per_s",
        "ttft_s",
        "total_s",
        "other_s",
    )
    summary = {f"{k}_p50": p50([r[k] for r in rows if r[k] is not None]) for k in keys}
    summary["other_s_per_decode_token_p50"] = p50(
        [r["other_s"] / r["decode_tokens"] for r in rows if r["decode_tokens"]]
    )
    return {
        "config": {
            "threads": threads,
            "batch": batch,
            "reuse": reuse,
            "grammar": grammar,
            "variant": variant,
            "flash_attn": flash_attn,
            "model": settings.llm_model,
            "n_ctx": settings.llm_context,
        },
        "warm_up_s": warm_s,
        "summary": summary,
        "rows": rows,
    }


# --------------------------------------------------------------------------- CLI


def _write(obj: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints (and optionally writes) one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m eval.llm_latency", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prompts", help="record the extraction prompts' inputs (no LLM)")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="replay the prompts through the local LLM")
    r.add_argument("--prompts", type=Path, required=True)
    r.add_argument("--threads", type=int, nargs="+", default=[2])
    r.add_argument("--batch", type=int, nargs="+", default=[512])
    r.add_argument("--reuse", choices=("live", "none", "ram"), default="live")
    r.add_argument("--no-grammar", action="store_true", help="no JSON-schema grammar")
    r.add_argument("--flash-attn", action="store_true")
    r.add_argument("--variant", choices=tuple(variants()), default="current")
    r.add_argument("--label", default="", help="what build this is, for the tables")
    r.add_argument("--out", type=Path)
    t = sub.add_parser("tokens", help="prompt tokens of each prompt variant (tokenizer only)")
    t.add_argument("--prompts", type=Path, required=True)
    t.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.command == "prompts":
        result = {"machine": machine(), **build_prompts(QUESTIONS)}
        _write(result, args.out)
        return 0
    prompts = json.loads(args.prompts.read_text(encoding="utf-8"))["prompts"]
    if args.command == "tokens":
        from qa.llm_assets import model_path
        from qa.settings import Settings

        settings = Settings.from_env()
        table = token_table(prompts, model_path(settings.llm_model, settings.model_dir))
        _write({"model": settings.llm_model, **table}, args.out)
        return 0
    runs = []
    for threads in args.threads:
        for batch in args.batch:
            log(f"threads={threads} batch={batch} reuse={args.reuse} variant={args.variant}")
            runs.append(
                run(
                    prompts,
                    threads=threads,
                    batch=batch,
                    reuse=args.reuse,
                    grammar=not args.no_grammar,
                    variant=args.variant,
                    flash_attn=args.flash_attn,
                    log=log,
                )
            )
    result = {
        "label": args.label,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": machine(),
        "llama_cpp": llama_build(),
        "runs": runs,
    }
    _write(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
