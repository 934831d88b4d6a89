"""`studyguide` command line: a thin shell over ingest.pipeline and app.assistant.

Exit status: 0 success, 2 bad input (one line on stderr), 1 internal failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from studyguide.config import GENERATORS, PROJECT_ROOT, SHARED_PAPERS, load_settings
from studyguide.errors import UserError



class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep it to one line
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="studyguide", description="Cited answers and guide corrections from the papers.")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db", help="Chroma folder (env STUDYGUIDE_DB)")
    store.add_argument("--chroma-url", help="Chroma server, http://host:port (env STUDYGUIDE_CHROMA_URL)")
    parser.add_argument("--generator", choices=GENERATORS, help="answer backend (env STUDYGUIDE_GENERATOR)")
    parser.add_argument("--embedder", help="embeddinggemma | minilm | a model folder | an HF id")
    parser.add_argument("--preset", help="fast | default | quality (env STUDYGUIDE_PRESET)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    setup = sub.add_parser("setup", help="fetch models, stage papers, build the index")
    setup.add_argument("--papers-from", type=Path, help=f"folder of paper files to stage (default {SHARED_PAPERS})")
    setup.add_argument("--no-llm", action="store_true", help="skip the 1.1 GB generator model")

    models = sub.add_parser("models", help="model files")
    models_sub = models.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    fetch = models_sub.add_parser("fetch", help="assemble and verify the default models")
    only = fetch.add_mutually_exclusive_group()
    only.add_argument("--embedder-only", action="store_true")
    only.add_argument("--llm-only", action="store_true")

    ingest = sub.add_parser("ingest", help="index the guide and the papers")
    ingest.add_argument("--papers-dir", type=Path)
    ingest.add_argument("--guide", type=Path)
    ingest.add_argument("--rebuild", action="store_true", help="re-embed everything")
    ingest.add_argument("--offline", action="store_true", help="never try arXiv")

    ask = sub.add_parser("ask", help="answer a question from the papers, with citations")
    ask.add_argument("question")
    ask.add_argument("--history", type=Path, help='JSON list of {"role","content"}')
    ask.add_argument("--json", action="store_true")

    check = sub.add_parser("check", help="check the guide's answers against the papers")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--question", type=int)
    which.add_argument("--all", action="store_true")
    out = check.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--format", choices=("md", "html"))
    check.add_argument("--out", type=Path)

    sub.add_parser("chat", help="launch the Streamlit app")
    return parser


def settings_from_args(args: argparse.Namespace):
    return load_settings(
        preset=args.preset,
        db_dir=args.db,
        chroma_url=args.chroma_url,
        generator=args.generator,
        embedder=args.embedder,
        papers_dir=getattr(args, "papers_dir", None),
        guide_path=getattr(args, "guide", None),
    )


def read_history(path: Path | None) -> list[dict]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"--history {path}: file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"--history {path}: not valid JSON ({exc}); expected a list of {{role, content}}") from exc
    if not isinstance(data, list) or not all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
        for t in data
    ):
        raise UserError(f'--history {path}: expected a JSON list of {{"role": "user"|"assistant", "content": "..."}}')
    return data


def cmd_models_fetch(settings, embedder: bool, llm: bool) -> None:
    from ingest.models import fetch_defaults

    for name, path in fetch_defaults(settings, embedder=embedder, llm=llm).items():
        print(f"{name}: verified at {path}")


def cmd_ingest(settings, rebuild: bool, offline: bool) -> None:
    from ingest.pipeline import run_ingest

    report = run_ingest(settings, rebuild=rebuild, progress=sys.stderr.isatty(), allow_download=not offline)
    print("\n".join(report.summary_lines()))


def cmd_setup(settings, papers_from: Path | None, no_llm: bool) -> None:
    from ingest.fetch import stage_papers
    from ingest.manifest import load_manifest

    manifest = load_manifest(settings.manifest_path)
    source = papers_from or SHARED_PAPERS
    if source.is_dir():
        staged = stage_papers(source, settings.papers_dir, [p.local_name for p in manifest.papers])
        print(f"papers: {len(staged)} file(s) staged in {settings.papers_dir} from {source}")
    else:
        print(f"papers: no folder {source}; will use {settings.papers_dir} or arXiv")
    cmd_models_fetch(settings, embedder=True, llm=not no_llm)
    cmd_ingest(settings, rebuild=False, offline=False)


def cmd_ask(settings, question: str, history_path: Path | None, as_json: bool) -> None:
    from app.assistant import Assistant, validate_question

    question = validate_question(question)
    history = read_history(history_path)
    answer = Assistant(settings).ask(question, history)
    if as_json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return
    print(answer.answer)
    if answer.citations:
        print()
        for c in answer.citations:
            page = f", p. {c.page}" if c.page else ""
            print(f"[{c.n}] {c.source}, {c.section}{page}: \u201c{c.quote}\u201d")
    for g in answer.guide:
        print(f"\n(guide, question {g.question}: {g.excerpt})")


def cmd_check(settings, question: int | None, all_questions: bool, as_json: bool, fmt: str | None, out: Path | None) -> None:
    from app.assistant import Assistant
    from app.report import render_report

    assistant = Assistant(settings)
    if question is not None and not 1 <= question <= 50:
        raise UserError(f"--question {question}: the guide has questions 1 to 50")
    numbers = list(range(1, 51)) if all_questions else [question]
    results = assistant.check_many(numbers, progress=sys.stderr.isatty())
    if fmt:
        text = render_report(results, fmt)
    else:
        payload = [r.to_json() for r in results] if all_questions else results[0].to_json()
        text = json.dumps(payload, ensure_ascii=False, indent=2)
    if out:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write ({exc.strerror})") from exc
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)


def cmd_chat(args) -> None:
    import subprocess

    script = PROJECT_ROOT / "app" / "streamlit_app.py"
    env = dict(os.environ)
    for flag, var in (("db", "STUDYGUIDE_DB"), ("chroma_url", "STUDYGUIDE_CHROMA_URL"),
                      ("generator", "STUDYGUIDE_GENERATOR"), ("embedder", "STUDYGUIDE_EMBEDDER"),
                      ("preset", "STUDYGUIDE_PRESET")):
        if getattr(args, flag):
            env[var] = str(getattr(args, flag))
    raise SystemExit(subprocess.call([sys.executable, "-m", "streamlit", "run", str(script)], env=env))


def run(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "chat":
        cmd_chat(args)
        return
    settings = settings_from_args(args)
    if args.command == "setup":
        cmd_setup(settings, args.papers_from, args.no_llm)
    elif args.command == "models":
        cmd_models_fetch(settings, embedder=not args.llm_only, llm=not args.embedder_only)
    elif args.command == "ingest":
        cmd_ingest(settings, args.rebuild, args.offline)
    elif args.command == "ask":
        cmd_ask(settings, args.question, args.history, args.json)
    elif args.command == "check":
        cmd_check(settings, args.question, args.all, args.json, args.format, args.out)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    try:
        run(sys.argv[1:] if argv is None else argv)
    except UserError as exc:
        print(f"studyguide: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("studyguide: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the contract: 1 on internal failure, never a bare traceback
        if os.environ.get("STUDYGUIDE_DEBUG"):
            traceback.print_exc()
        print(f"studyguide: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
