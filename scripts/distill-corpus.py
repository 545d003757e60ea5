#!/usr/bin/env python3
"""Prints English sentences, one per line, for distilling the static embedder (see
examples/distill.rs). They come from text already on a developer's machine, nothing downloaded:
the docstrings of the Python standard library, the Rust documentation that rustup installs
(the book, the reference, Rust by Example, ...) and the repository's own docs/*.md. The distill
example adds its own generated prompts; this corpus widens the vocabulary it sees in context.

Usage: python3 scripts/distill-corpus.py > target/distill-corpus.txt
"""
import ast
import pathlib
import re
import sys
import sysconfig

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
MIN_WORDS, MAX_WORDS = 4, 60


def sentences(text):
    text = re.sub(r"\s+", " ", text).strip()
    for s in SENTENCE_END.split(text):
        s = s.strip()
        words = s.split()
        # Keep prose: enough words, mostly alphabetic, not a table or a code listing.
        if not (MIN_WORDS <= len(words) <= MAX_WORDS):
            continue
        letters = sum(c.isalpha() for c in s)
        if letters < 0.6 * len(s) or ">>>" in s or "::" in s:
            continue
        yield s


def python_docstrings():
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        if any(p in ("test", "tests", "idlelib", "site-packages", "lib2to3") for p in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    # Paragraphs, so that parameter lists do not run into prose.
                    for para in doc.split("\n\n"):
                        yield from sentences(para)


def rust_docs():
    """Paragraphs of the Rust book, reference and Rust by Example, when rustup installed the
    documentation (its default profile does)."""
    import html
    import os
    import subprocess

    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return
    base = pathlib.Path(sysroot) / "share" / "doc" / "rust" / "html"
    para = re.compile(r"<p>(.*?)</p>", re.S)
    tag = re.compile(r"<[^>]+>")
    for book in ("book", "reference", "rust-by-example", "nomicon", "cargo", "rustc"):
        root = base / book
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.html")):
            if path.name in ("print.html", "404.html", "toc.html"):
                continue
            text = path.read_text(encoding="utf-8", errors="ignore")
            for p in para.findall(text):
                yield from sentences(html.unescape(tag.sub("", p)))


def repo_docs():
    docs = pathlib.Path(__file__).resolve().parent.parent / "docs"
    for path in sorted(docs.glob("*.md")):
        for para in path.read_text(encoding="utf-8", errors="ignore").split("\n\n"):
            if para.lstrip().startswith(("|", "```", "    ", "#")):
                continue
            yield from sentences(para)


def main():
    seen = set()
    out = sys.stdout
    for s in list(python_docstrings()) + list(rust_docs()) + list(repo_docs()):
        key = s.lower()
        if key not in seen:
            seen.add(key)
            out.write(s + "\n")


if __name__ == "__main__":
    main()
