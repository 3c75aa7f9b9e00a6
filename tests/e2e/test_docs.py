#!/usr/bin/env python3
"""The help, README.md, the man page (docs/tt.1) and the bash completion
(scripts/tt-completion.bash) cover every subcommand, flag and console command
that `tt help --dump` lists (it is made from the tables in src/main.cc,
src/tracker.cc and src/peer.cc): a row added to a table and not documented
fails here. The check goes one way only: the documents may name more than the
binary has. TT_DOCS_README, TT_DOCS_MAN and TT_DOCS_COMPLETION point the checks
at other copies of the files."""

import os
import re
import subprocess

from harness import CheckFailed, Tap, eq, require, run, tempdir, tt_path

tt = tt_path()
t = Tap()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.environ.get("TT_DOCS_README", os.path.join(ROOT, "README.md"))
MAN = os.environ.get("TT_DOCS_MAN", os.path.join(ROOT, "docs", "tt.1"))
COMPLETION = os.environ.get("TT_DOCS_COMPLETION", os.path.join(ROOT, "scripts", "tt-completion.bash"))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_dump():
    """{subcommand: {"flags": [flag...], "console": [command...]}}, in order."""
    res = run([tt, "help", "--dump"])
    eq(res.returncode, 0, f"exit code of 'tt help --dump' (stderr {res.stderr[-300:]!r})")
    subs = {}
    for line in res.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "command" and len(f) == 3:
            subs[f[1]] = {"flags": [], "console": []}
        elif f[0] == "flag" and len(f) == 4 and f[1] in subs and f[2].startswith("--"):
            subs[f[1]]["flags"].append(f[2])
        elif f[0] == "console" and len(f) == 4 and f[1] in subs and f[2]:
            subs[f[1]]["console"].append(f[2])
        else:
            raise CheckFailed(f"'tt help --dump': malformed line {line!r}")
    return subs


def word(text):
    """A regex for TEXT standing alone (not part of a longer flag or word)."""
    return r"(?<![\w-])" + r"\s+".join(re.escape(w) for w in text.split()) + r"(?![\w-])"


def mentions(text, item):
    return re.search(word(item), text) is not None


def code_span(item):
    """A regex for a Markdown code span that starts with ITEM: `share NAME [PATH]`."""
    return "`" + r"\s+".join(re.escape(w) for w in item.split()) + r"(?![\w-])"


# ---------------------------------------------------------------- README.md


def readme_sections(text):
    """{subcommand: its section}: from a heading "### `tt SUB" to the next heading."""
    out = {}
    for m in re.finditer(r"^### `tt ([\w-]+)[^\n]*\n(.*?)(?=^#)", text + "\n#", re.M | re.S):
        out[m.group(1)] = out.get(m.group(1), "") + m.group(0)
    return out


def readme_missing(subs, text):
    """What README.md does not name: `tt SUB` for each subcommand; each flag and
    console command (as a code span) in its subcommand's section."""
    missing = []
    sections = readme_sections(text)
    for sub, d in subs.items():
        if not re.search(r"`tt " + re.escape(sub) + r"(?![\w-])", text):
            missing.append(f"subcommand {sub}")
        if not d["flags"] and not d["console"]:
            continue
        sec = sections.get(sub)
        if sec is None:
            missing.append(f"a section '### `tt {sub} ...`'")
            continue
        missing += [f"{sub} flag {f}" for f in d["flags"] if not mentions(sec, f)]
        missing += [f"{sub} console command {c}" for c in d["console"]
                    if not re.search(code_span(c), sec)]
    return missing


# ---------------------------------------------------------------- man page


def man_text(src):
    """The roff source as text: no comments, no font escapes, plain dashes."""
    lines = [ln for ln in src.splitlines() if not ln.startswith('.\\"')]
    text = "\n".join(lines)
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\-", "-").replace("\\e", "\\").replace('"', "")
    return re.sub(r"^\.[A-Za-z]+ ?", "", text, flags=re.M)


def man_sections(src):
    """{subcommand: its text}: from `.SS "tt SUB ...` to the next .SS or .SH."""
    out = {}
    for m in re.finditer(r'^\.SS "?tt ([\w-]+)[^\n]*\n(.*?)(?=^\.S[SH] )', src + "\n.SH ", re.M | re.S):
        out[m.group(1)] = man_text(m.group(0))
    return out


def man_missing(subs, src):
    missing = []
    text = man_text(src)
    sections = man_sections(src)
    if not re.search(r"^\.TH TT 1\b", src, re.M):
        missing.append("the .TH TT 1 header")
    for sub, d in subs.items():
        if sub not in sections:
            missing.append(f'a section \'.SS "tt {sub} ..."\'')
            continue
        if not mentions(text.split("DESCRIPTION")[0], "tt " + sub):
            missing.append(f"subcommand {sub} in the SYNOPSIS")
        sec = sections[sub]
        missing += [f"{sub} flag {f}" for f in d["flags"] if not mentions(sec, f)]
        missing += [f"{sub} console command {c}" for c in d["console"] if not mentions(sec, c)]
    return missing


# ---------------------------------------------------------------- completion


def complete(script, words, cword, cwd=None):
    """COMPREPLY after sourcing SCRIPT with COMP_WORDS=WORDS, COMP_CWORD=CWORD,
    calling the function it registered for tt with `complete -F`."""
    prog = ('source "$1" || exit 9; shift; f=$(complete -p tt) || exit 8; f=${f#*-F }; f=${f%% *}; '
            'COMP_WORDS=("$@"); COMP_CWORD=%d; COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; '
            '"$f" tt "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; '
            'printf "%%s\\n" "${COMPREPLY[@]}"' % cword)
    res = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog, "bash", script, *words],
                         capture_output=True, text=True, timeout=20, cwd=cwd or tempdir("complete"))
    if res.returncode != 0:
        raise CheckFailed(f"completion of {words!r} failed: exit {res.returncode}, {res.stderr[-300:]!r}")
    return [w for w in res.stdout.splitlines() if w]


def completion_missing(subs, script):
    missing = []
    first = complete(script, ["tt", ""], 1)
    missing += [f"subcommand {s} (tt <TAB>)" for s in subs if s not in first]
    for sub, d in subs.items():
        if not d["flags"]:
            continue
        got = complete(script, ["tt", sub, "--"], 2)
        missing += [f"{sub} flag {f} (tt {sub} --<TAB>)" for f in d["flags"] if f not in got]
    for sub, d in subs.items():
        for cmd in d["console"]:
            words = cmd.split()
            for k in range(len(words)):
                got = complete(script, ["tt", "help", sub] + words[:k] + [""], 3 + k)
                if words[k] not in got:
                    missing.append(f"{sub} console command {cmd} (tt help {sub} {' '.join(words[:k])}<TAB>)")
    return missing


# ---------------------------------------------------------------- the checks

subs = {}


@t.test("'tt help --dump' lists the subcommands, their flags and console commands", fatal=True)
def _():
    subs.update(load_dump())
    for sub in ("tracker", "peer", "id", "help"):
        require(sub in subs, f"no subcommand {sub} in the dump: {sorted(subs)}")
    require("--port" in subs["tracker"]["flags"] and "--dir" in subs["peer"]["flags"],
            f"flags missing from the dump: {subs}")
    require("logs request" in subs["tracker"]["console"] and "share" in subs["peer"]["console"],
            f"console commands missing from the dump: {subs}")
    t.diag(f"{len(subs)} subcommands, {sum(len(d['flags']) for d in subs.values())} flags, "
           f"{sum(len(d['console']) for d in subs.values())} console commands")


@t.test("'tt --help' names every subcommand")
def _():
    res = run([tt, "--help"])
    eq(res.returncode, 0, "exit code of 'tt --help'")
    missing = [s for s in subs if not re.search(r"^\s+" + re.escape(s) + r"\s", res.stdout, re.M)]
    require(not missing, f"not in 'tt --help': {missing}\n{res.stdout}")


@t.test("'tt help COMMAND' and 'tt COMMAND --help' print its flags and console commands")
def _():
    for sub, d in subs.items():
        for argv in ([tt, "help", sub], [tt, sub, "--help"]):
            res = run(argv)
            eq(res.returncode, 0, f"exit code of {argv[1:]} (stderr {res.stderr[-200:]!r})")
            require(res.stdout.startswith(f"usage: tt {sub}"), f"{argv[1:]}: {res.stdout[:200]!r}")
            usage = res.stdout.split("\n\n")[0]
            missing = [x for x in d["flags"] + d["console"] if not mentions(usage, x)]
            require(not missing, f"not in {argv[1:]}: {missing}\n{res.stdout}")
            synopsis = re.match(r"usage:.*?\n(?=\S)", res.stdout, re.S).group(0)
            missing = [f for f in d["flags"] if not mentions(synopsis, f)]
            require(not missing, f"not in the synopsis of {argv[1:]}: {missing}\n{synopsis}")


def misaligned_rows(usage):
    """The rows of a usage's flag and console tables whose help does not start
    in the table's help column, two blanks or more after the longest entry (an
    entry too long for the column stands alone, its help on the next line)."""
    bad = []
    tables, rows = [], None
    for line in usage.splitlines():
        if line.startswith("  ") and not line.lstrip().startswith("["):  # not the synopsis
            if rows is None:
                rows = []
                tables.append(rows)
            rows.append(line)
        else:
            rows = None
    for rows in tables:
        cols = set()
        for i, line in enumerate(rows):
            m = re.match(r"^ +(\S.*?\S)  +(\S.*)$", line) or re.match(r"^ {3,}(\S)(.*)$", line)
            if m is None:
                # A long entry alone is followed by its help, indented; any
                # other row without two blanks runs into its help.
                if i + 1 < len(rows) and rows[i + 1].startswith("   "):
                    continue
                bad.append(line)
                continue
            cols.add(m.start(2) if m.re.pattern.startswith("^ +") else m.start(1))
        if len(cols) > 1:
            bad.extend(rows)
    return bad


@t.test("the usage's flag and console tables keep their help in one column, two blanks after the "
        "longest entry")
def _():
    for sub in subs:
        res = run([tt, "help", sub])
        bad = misaligned_rows(res.stdout)
        require(not bad, f"'tt help {sub}': misaligned rows {bad}\n{res.stdout}")
    require(misaligned_rows("  --max-contents-per-ip N contents one IP\n  --host IP  x\n"),
            "a row with one blank before its help: not noticed")


@t.test("tt get's synopsis shows --tracker as optional everywhere, and README describes tt get "
        "in one section")
def _():
    res = run([tt, "get"])
    eq(res.returncode, 2, "exit code of 'tt get'")
    require("[--tracker HOST:PORT]" in res.stderr, f"'tt get' stderr: {res.stderr!r}")
    usage = run([tt, "help", "get"]).stdout
    require("[--tracker HOST:PORT]" in usage, f"'tt help get': {usage!r}")
    readme = read(README)
    man = read(MAN).replace("\\-", "-")
    for doc, text in ((README, readme), (MAN, man)):
        bad = re.findall(r"tt get\S* NAME\|ID\S* --tracker.*", text)
        require(not bad, f"{doc}: --tracker shown as required: {bad}")
    eq(len(re.findall(r"^#+ `tt get ", readme, re.M)), 1, "README sections about tt get")


@t.test("'tt help tracker|peer CONSOLE-COMMAND' prints that command's help; unknown ones exit 2")
def _():
    for sub, d in subs.items():
        for cmd in d["console"]:
            res = run([tt, "help", sub] + cmd.split())
            eq(res.returncode, 0, f"exit code of 'tt help {sub} {cmd}' (stderr {res.stderr[-200:]!r})")
            require(res.stdout.startswith(cmd) and f"console command of tt {sub}" in res.stdout,
                    f"'tt help {sub} {cmd}': {res.stdout!r}")
    res = run([tt, "help", "peer", "no-such-command"])
    eq(res.returncode, 2, "exit code of 'tt help peer no-such-command'")
    require("no console command 'no-such-command'" in res.stderr and "share" in res.stderr,
            f"'tt help peer no-such-command' stderr: {res.stderr!r}")


@t.test("README.md names every subcommand, and each one's flags and console commands in its section")
def _():
    missing = readme_missing(subs, read(README))
    require(not missing, f"missing from {README}: {missing}")


@t.test("the man page names every subcommand, and each one's flags and console commands in its section")
def _():
    missing = man_missing(subs, read(MAN))
    require(not missing, f"missing from {MAN}: {missing}")


@t.test("the bash completion completes every subcommand and each one's flags")
def _():
    missing = completion_missing(subs, COMPLETION)
    require(not missing, f"missing from {COMPLETION}: {missing}")


@t.test("completion: 'tt pe' gives peer, 'tt peer --ti' --timeout, 'tt help tr' tracker; flag values")
def _():
    eq(complete(COMPLETION, ["tt", "pe"], 1), ["peer"], "tt pe<TAB>")
    eq(complete(COMPLETION, ["tt", "peer", "--ti"], 2), ["--timeout"], "tt peer --ti<TAB>")
    eq(complete(COMPLETION, ["tt", "help", "tr"], 2), ["tracker"], "tt help tr<TAB>")
    got = complete(COMPLETION, ["tt", "tracker", "--port", "0", "--p"], 4)
    require({"--port", "--peer-ttl"} <= set(got), f"tt tracker --port 0 --p<TAB>: {got}")
    d = tempdir("complete")
    os.mkdir(os.path.join(d, "shared"))
    open(os.path.join(d, "share.txt"), "w").close()
    eq(complete(COMPLETION, ["tt", "peer", "--dir", "sha"], 3, cwd=d), ["shared"],
       "tt peer --dir sha<TAB> (directories only)")
    eq(complete(COMPLETION, ["tt", "peer", "--port", ""], 3), [], "tt peer --port <TAB> (a number)")


@t.test("the checks fail when one flag or console command is left out of a document")
def _():
    readme, src = read(README), read(MAN)
    for sub, item in (("tracker", "--peer-ttl"), ("peer", "--max-conns-per-ip"), ("peer", "request logs")):
        gone = re.compile(word(item).replace(r"\s+", r"(?:\s|\\f[BIRP]|\\)+"))
        cut = gone.sub("GONE", readme)
        require(any(item in m for m in readme_missing(subs, cut)), f"README without {item}: not noticed")
        cut = gone.sub("GONE", src.replace("\\-", "-"))
        require(any(item in m for m in man_missing(subs, cut)), f"man page without {item}: not noticed")
    d = tempdir("cut")
    cut = os.path.join(d, "tt-completion.bash")
    with open(cut, "w") as f:
        f.write(re.sub(word("--peer-ttl"), "", read(COMPLETION)))
    require(any("--peer-ttl" in m for m in completion_missing(subs, cut)),
            "completion without --peer-ttl: not noticed")


t.done()
