#!/usr/bin/env python3
"""`meson install --destdir DIR` (no root needed) puts the three files where
they belong under the prefix: bin/tt, share/man/man1/tt.1 and
share/bash-completion/completions/tt; the installed tt runs, the man page is
the repository's and renders, the completion completes. The build directory
is the one holding the tt under test."""

import json
import os
import shutil
import subprocess

from harness import CheckFailed, Tap, eq, require, run, tempdir, tt_path

tt = tt_path()
t = Tap()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = os.path.dirname(tt)
meson = shutil.which("meson")
c = {}


def sh(argv, timeout=120):
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise CheckFailed(f"{argv} exited {res.returncode}: {res.stdout[-400:]!r} {res.stderr[-400:]!r}")
    return res.stdout


def same(path, repo_path):
    with open(path, "rb") as a, open(os.path.join(ROOT, repo_path), "rb") as b:
        return a.read() == b.read()


if meson is None or not os.path.isdir(os.path.join(build, "meson-info")):
    t.skip("meson install into a staging directory", f"{build} is not a meson build directory")
    t.done()


@t.test("meson install --destdir installs tt, tt(1) and the bash completion", fatal=True)
def _():
    opts = {o["name"]: o["value"] for o in json.loads(sh([meson, "introspect", build, "--buildoptions"]))}
    c["version"] = json.loads(sh([meson, "introspect", build, "--projectinfo"]))["version"]
    dest = tempdir("destdir")
    # meson install records what it installed in meson-logs/install-log.txt, which
    # `ninja uninstall` reads: the staged install must not replace a real one's.
    log = os.path.join(build, "meson-logs", "install-log.txt")
    saved = None
    if os.path.exists(log):
        with open(log, "rb") as f:
            saved = f.read()
    try:
        out = sh([meson, "install", "-C", build, "--no-rebuild", "--destdir", dest])
    finally:
        if saved is None:
            if os.path.exists(log):
                os.unlink(log)
        else:
            with open(log, "wb") as f:
                f.write(saved)
    root = dest + opts["prefix"]
    c["bin"] = os.path.join(root, opts["bindir"], "tt")
    c["man"] = os.path.join(root, opts["mandir"], "man1", "tt.1")
    c["completion"] = os.path.join(root, opts["datadir"], "bash-completion", "completions", "tt")
    for what in ("bin", "man", "completion"):
        require(os.path.isfile(c[what]), f"no {c[what]}; meson install said:\n{out}")
    require(os.access(c["bin"], os.X_OK), f"{c['bin']} is not executable")
    require(same(c["man"], "docs/tt.1"), f"{c['man']} differs from docs/tt.1")
    require(same(c["completion"], "scripts/tt-completion.bash"),
            f"{c['completion']} differs from scripts/tt-completion.bash")


@t.test("the installed tt runs: --version names the project's version, --help its commands")
def _():
    res = run([c["bin"], "--version"])
    eq(res.returncode, 0, f"exit code of the installed tt --version ({res.stderr[-200:]!r})")
    eq(res.stdout.strip(), f"tt {c['version']}", "the installed tt --version")
    res = run([c["bin"], "--help"])
    eq(res.returncode, 0, "exit code of the installed tt --help")
    require("tracker" in res.stdout and "peer" in res.stdout, res.stdout)


@t.test("the installed man page renders as tt(1)")
def _():
    if shutil.which("man") is None:
        t.diag("no man(1) here: only the file was checked")
        return
    res = subprocess.run(["man", "-l", c["man"]], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"})
    eq(res.returncode, 0, f"exit code of man -l ({res.stderr[-200:]!r})")
    require(res.stdout.lstrip().startswith("TT(1)") and "tt peer --id ID" in res.stdout,
            res.stdout[:400])


@t.test("the installed completion completes 'tt pe' to peer and 'tt peer --ti' to --timeout")
def _():
    prog = ('source "$1" || exit 9; f=$(complete -p tt) || exit 8; f=${f#*-F }; f=${f%% *}; '
            'COMP_WORDS=(tt pe); COMP_CWORD=1; "$f"; echo "${COMPREPLY[*]}"; '
            'COMP_WORDS=(tt peer --ti); COMP_CWORD=2; "$f"; echo "${COMPREPLY[*]}"')
    out = sh(["bash", "--norc", "--noprofile", "-c", prog, "bash", c["completion"]], timeout=20)
    eq(out.splitlines(), ["peer", "--timeout"], "completions")


t.done()
