"""A small POSIX shell, run on a virtual clock, for the scripts containers are given.

Kubernetes manifests keep much of their logic in ``sh -c`` strings: the
docs' liveness example (``touch /tmp/healthy; sleep 30; rm -f /tmp/healthy;
sleep 600``), log generators (``while true; do echo "$(date) tick"; sleep 5;
done``), init containers (``until nslookup db; do sleep 2; done``), exec
probes (``redis-cli ping | grep PONG``). A simulated container has to behave
as those scripts would, so kubesim reads them — not by running a process, but
by walking the script on a virtual clock: ``sleep`` moves time on, ``echo``
writes a line at that time, ``touch`` and ``rm`` change files, ``exit`` ends
it. Two callers use the same interpreter:

- the catalogue walks a container's main script once, when the container is
  created (:func:`actors.runtime.catalogue.behaviour_for`), and turns what it
  did into a timeline: lines at offsets, files appearing and going, an exit
  code at an offset — or "runs for ever", with the lines a steady loop repeats
  and the long-running program (a server) it ended in;
- the runtime's ``exec_sync`` runs a probe's or a user's command against a
  running container at ``now``.

A :class:`Host` supplies what is not shell: programs (``sleep`` is built in,
``nginx`` or ``redis-cli`` are the host's) and the date.

Understood: ``;`` ``&&`` ``||`` ``|`` ``&`` (and ``wait``), redirections
(``>``, ``>>``, ``<``, ``2>&1``, ``/dev/null``), ``$VAR``, ``${VAR:-x}``,
``$(...)`` and backquotes, ``$((...))`` integer arithmetic, ``for``,
``while``/``until`` (a loop that changes nothing between iterations is
recognised as repeating for ever), ``if``/``elif``/``else``, ``{ }`` and
``( )``, ``trap`` on TERM, and the builtins listed in :data:`BUILTINS`. Not
understood: functions, ``case``, here-documents, globbing, word splitting
outside ``for`` lists. A script that uses them raises
:class:`ShellSyntaxError` and its caller treats it as a command it does not
know.

Pure: no process, no clock; time is ``Shell.t``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_STEPS = 5_000
"""Simple commands one run may execute; past it the script is taken to run for ever (a limit on every loop)."""
MAX_ITERATIONS = 300
"""Iterations one loop may run before it is taken to run for ever."""
MIN_LOOP_PERIOD_S = 0.01
"""A loop that never sleeps still repeats at most this often, so its log stays finite per second."""
STDOUT = "stdout"
STDERR = "stderr"


class ShellSyntaxError(ValueError):
    """The script uses shell kubesim does not read (or is not shell at all)."""


# --- the parse tree ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Simple:
    words: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()
    """``(operator, target)``: ``>``, ``>>``, ``<``, ``2>``, ``2>>``, ``>&`` (target an fd), ``&>``."""


@dataclass(frozen=True, slots=True)
class Pipeline:
    commands: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class AndOr:
    first: Any
    rest: tuple[tuple[str, Any], ...] = ()
    """``("&&" | "||", pipeline)``."""


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[tuple[Any, bool], ...] = ()
    """``(and_or, background)``."""


@dataclass(frozen=True, slots=True)
class For:
    var: str
    words: tuple[str, ...]
    body: Seq


@dataclass(frozen=True, slots=True)
class Loop:
    until: bool
    cond: Seq
    body: Seq


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[tuple[Seq, Seq], ...]
    otherwise: Seq | None = None


@dataclass(frozen=True, slots=True)
class Group:
    body: Seq
    subshell: bool = False


@dataclass(frozen=True, slots=True)
class Script:
    body: Seq
    subs: tuple[tuple[str, str], ...] = ()
    """What the ``\\x01N\\x02`` placeholders in words stand for: ``("cmd" | "arith", text)``."""


# --- lexing --------------------------------------------------------------------------------------------

_OPS = ("&&", "||", ">>", ">&", "&>", ";;", ";", "&", "|", ">", "<", "(", ")")
_OP_CHARS = frozenset("();<>|&")
_SQ_DOLLAR = "\x03"
"""A ``$`` inside single quotes: not expanded (turned back into ``$`` after expansion)."""


def _closing(text: str, i: int, opener: str, closer: str) -> int:
    """The index of the ``closer`` that balances the ``opener`` before ``i`` (quotes respected)."""
    depth, quote = 1, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError(f"unbalanced {opener!r}")


def _tokenize(script: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Words and operators (``("word", text)`` / ``("op", text)``), and the substitutions taken out of words."""
    tokens: list[tuple[str, str]] = []
    subs: list[tuple[str, str]] = []
    word: list[str] = []
    in_word = False
    quoted = False
    i, n = 0, len(script)

    def end_word() -> None:
        nonlocal in_word, quoted
        if in_word:
            tokens.append(("word", "".join(word)))
        word.clear()
        in_word = quoted = False

    def substitute(kind: str, text: str) -> None:
        nonlocal in_word
        subs.append((kind, text))
        word.append(f"\x01{len(subs) - 1}\x02")
        in_word = True

    while i < n:
        ch = script[i]
        if ch == "\\" and i + 1 < n:
            if script[i + 1] != "\n":  # a backslash-newline joins lines
                word.append(script[i + 1])
                in_word = True
            i += 2
        elif ch == "'":
            j = script.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated single quote")
            word.append(script[i + 1:j].replace("$", _SQ_DOLLAR))
            in_word = quoted = True
            i = j + 1
        elif ch == '"':
            i = _double_quoted(script, i + 1, word, substitute)
            in_word = quoted = True
        elif (after := _substitution(script, i, substitute)) is not None:
            i = after
        elif ch == "#" and not in_word:
            while i < n and script[i] != "\n":
                i += 1
        elif ch == "\n":
            end_word()
            tokens.append(("op", ";"))
            i += 1
        elif ch.isspace():
            end_word()
            i += 1
        elif ch in _OP_CHARS:
            op = next(o for o in _OPS if script.startswith(o, i))
            fd = "".join(word) if in_word and not quoted and "".join(word) in ("1", "2") else ""
            if fd and op in (">", ">>", ">&"):
                word.clear()
                in_word = False
                tokens.append(("op", ("2" + op) if fd == "2" else op))
            else:
                end_word()
                tokens.append(("op", op))
            i += len(op)
        else:
            word.append(ch)
            in_word = True
            i += 1
    end_word()
    return tokens, subs


def _substitution(script: str, i: int, substitute: Callable[[str, str], None]) -> int | None:
    """A ``$((...))``, ``$(...)`` or backquoted command at ``i``: hand it to ``substitute`` and return the index
    after it; None if none starts there."""
    if script.startswith("$((", i):
        j = script.find("))", i + 3)
        if j < 0:
            raise ShellSyntaxError("unterminated $((")
        substitute("arith", script[i + 3:j])
        return j + 2
    if script.startswith("$(", i):
        j = _closing(script, i + 2, "(", ")")
        substitute("cmd", script[i + 2:j])
        return j + 1
    if script.startswith("`", i):
        j = script.find("`", i + 1)
        if j < 0:
            raise ShellSyntaxError("unterminated backquote")
        substitute("cmd", script[i + 1:j])
        return j + 1
    return None


def _double_quoted(script: str, i: int, word: list[str], substitute: Callable[[str, str], None]) -> int:
    """Reads a double-quoted string from ``i`` (just past the quote) into ``word``; returns the index after it."""
    n = len(script)
    while i < n:
        ch = script[i]
        if ch == '"':
            return i + 1
        if ch == "\\" and i + 1 < n and script[i + 1] in '"\\$`\n':
            if script[i + 1] == "$":
                word.append(_SQ_DOLLAR)
            elif script[i + 1] != "\n":
                word.append(script[i + 1])
            i += 2
        elif (after := _substitution(script, i, substitute)) is not None:
            i = after
        else:
            word.append(ch)
            i += 1
    raise ShellSyntaxError("unterminated double quote")


# --- parsing -------------------------------------------------------------------------------------------

_REDIRECTS = frozenset({">", ">>", "<", "2>", "2>>", ">&", "2>&", "&>"})
_ENDS_SIMPLE = frozenset({";", "&", "&&", "||", "|", ")", ";;"})
_RESERVED = frozenset({"do", "done", "then", "elif", "else", "fi", "}", "in"})


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.i += 1
        return token

    def at_word(self, *texts: str) -> bool:
        kind, text = self.peek()
        return kind == "word" and text in texts

    def at_op(self, *ops: str) -> bool:
        kind, text = self.peek()
        return kind == "op" and text in ops

    def expect_word(self, text: str) -> None:
        if not self.at_word(text):
            raise ShellSyntaxError(f"expected {text!r}, found {self.peek()[1]!r}")
        self.i += 1

    def skip_semicolons(self) -> None:
        while self.at_op(";"):
            self.i += 1

    def sequence(self, stops: tuple[str, ...] = ()) -> Seq:
        items: list[tuple[Any, bool]] = []
        while True:
            self.skip_semicolons()
            kind, text = self.peek()
            if kind == "eof" or (kind == "word" and text in stops) or self.at_op(")"):
                return Seq(tuple(items))
            node = self.and_or()
            background = self.at_op("&")
            if background or self.at_op(";"):
                self.i += 1
            elif not (self.peek()[0] == "eof" or self.at_op(")") or self.at_word(*stops)):
                raise ShellSyntaxError(f"unexpected {self.peek()[1]!r}")
            items.append((node, background))

    def and_or(self) -> Any:
        first = self.pipeline()
        rest: list[tuple[str, Any]] = []
        while self.at_op("&&", "||"):
            op = self.take()[1]
            self.skip_semicolons()
            rest.append((op, self.pipeline()))
        return AndOr(first, tuple(rest)) if rest else first

    def pipeline(self) -> Any:
        negated = self.at_word("!")
        if negated:
            self.i += 1
        commands = [self.command()]
        while self.at_op("|"):
            self.i += 1
            self.skip_semicolons()
            commands.append(self.command())
        return Pipeline(tuple(commands), negated) if negated or len(commands) > 1 else commands[0]

    def command(self) -> Any:
        kind, text = self.peek()
        if kind == "word" and text == "for":
            node: Any = self.for_loop()
        elif kind == "word" and text in ("while", "until"):
            self.i += 1
            cond = self.sequence(("do",))
            self.expect_word("do")
            body = self.sequence(("done",))
            self.expect_word("done")
            node = Loop(text == "until", cond, body)
        elif kind == "word" and text == "if":
            node = self.if_clause()
        elif kind == "word" and text == "{":
            self.i += 1
            body = self.sequence(("}",))
            self.expect_word("}")
            node = Group(body)
        elif kind == "op" and text == "(":
            self.i += 1
            body = self.sequence()
            if not self.at_op(")"):
                raise ShellSyntaxError("expected ')'")
            self.i += 1
            node = Group(body, subshell=True)
        elif kind == "word" and text in ("case", "function", "select") or (kind == "word" and text in _RESERVED):
            raise ShellSyntaxError(f"{text!r} is not supported here")
        else:
            return self.simple()
        self.trailing_redirects()
        return node

    def trailing_redirects(self) -> None:
        """``done > /dev/null``: read and ignored (output from compound commands goes to the log)."""
        while self.at_op(*_REDIRECTS):
            self.i += 1
            if self.peek()[0] == "word":
                self.i += 1

    def for_loop(self) -> For:
        self.i += 1
        kind, var = self.take()
        if kind != "word" or not re.fullmatch(r"[A-Za-z_]\w*", var):
            raise ShellSyntaxError("bad for loop variable")
        words: list[str] = []
        if self.at_word("in"):
            self.i += 1
            while self.peek()[0] == "word" and not self.at_word("do"):
                words.append(self.take()[1])
        self.skip_semicolons()
        self.expect_word("do")
        body = self.sequence(("done",))
        self.expect_word("done")
        return For(var, tuple(words), body)

    def if_clause(self) -> If:
        self.i += 1
        branches: list[tuple[Seq, Seq]] = []
        otherwise: Seq | None = None
        while True:
            cond = self.sequence(("then",))
            self.expect_word("then")
            body = self.sequence(("elif", "else", "fi"))
            branches.append((cond, body))
            if self.at_word("elif"):
                self.i += 1
                continue
            if self.at_word("else"):
                self.i += 1
                otherwise = self.sequence(("fi",))
            self.expect_word("fi")
            return If(tuple(branches), otherwise)

    def simple(self) -> Simple:
        words: list[str] = []
        redirects: list[tuple[str, str]] = []
        while True:
            kind, text = self.peek()
            if kind == "eof" or (kind == "op" and text in _ENDS_SIMPLE):
                break
            if kind == "op" and text in _REDIRECTS:
                self.i += 1
                target_kind, target = self.take()
                if target_kind != "word":
                    raise ShellSyntaxError(f"{text} needs a target")
                redirects.append((text, target))
            elif kind == "op":
                raise ShellSyntaxError(f"unexpected {text!r}")
            else:
                words.append(text)
                self.i += 1
        if not words and not redirects:
            raise ShellSyntaxError(f"unexpected {self.peek()[1] or 'end of script'!r}")
        return Simple(tuple(words), tuple(redirects))


def parse(script: str) -> Script:
    """The parse tree of ``script``; :class:`ShellSyntaxError` if kubesim cannot read it."""
    tokens, subs = _tokenize(script)
    parser = _Parser(tokens)
    body = parser.sequence()
    if parser.peek()[0] != "eof":
        raise ShellSyntaxError(f"unexpected {parser.peek()[1]!r}")
    return Script(body, tuple(subs))


def command_script(argv: Iterable[str]) -> Script:
    """One command run as given, without a shell (``$`` s stay as written, as exec's argv does)."""
    return Script(Seq(((Simple(tuple(w.replace("$", _SQ_DOLLAR) for w in argv)), False),)))


# --- files ---------------------------------------------------------------------------------------------

STANDARD_DIRS = ("/", "/bin", "/dev", "/etc", "/home", "/proc", "/root", "/sys", "/tmp", "/usr", "/var")


class Files:
    """A container's files as its scripts see them: which exist, with what text, and when they changed.

    Only files a script or command wrote are known (``/tmp/healthy``), plus
    everything under the volume mounts (they exist, empty) and
    :data:`STANDARD_DIRS`; ``events`` records each change with its time so
    that the catalogue can replay them as a timeline.
    """

    def __init__(self, present: Mapping[str, str] | None = None, mounts: Iterable[str] = ()) -> None:
        self.current: dict[str, str] = dict(present or {})
        self.mounts = tuple(m.rstrip("/") or "/" for m in mounts)
        self.events: list[tuple[float, str, str | None]] = []

    def _mounted(self, path: str) -> bool:
        return any(path == m or path.startswith(m + "/") for m in self.mounts)

    def exists(self, path: str) -> bool:
        return path in self.current or self.is_dir(path) or self._mounted(path) or path in ("/dev/null",)

    def is_dir(self, path: str) -> bool:
        path = path.rstrip("/") or "/"
        if path in STANDARD_DIRS or path + "/" in self.current or any(m == path for m in self.mounts):
            return True
        return any(p.startswith(path + "/") for p in self.current)

    def read(self, path: str) -> str | None:
        if path in self.current:
            return self.current[path]
        return "" if path == "/dev/null" or self._mounted(path) else None

    def write(self, path: str, t: float, text: str) -> None:
        if path == "/dev/null":
            return
        if self.current.get(path) != text:
            self.current[path] = text
            self.events.append((t, path, text))

    def remove(self, path: str, t: float) -> bool:
        if path not in self.current:
            return False
        del self.current[path]
        self.events.append((t, path, None))
        return True

    def snapshot(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.current.items()))


# --- running -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What a program did when the shell ran it."""

    code: int = 0
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    forever: bool = False
    """It does not end by itself (a server, ``tail -f``): the script stops there."""
    program: Any = None
    """The host's description of that long-running program, if it is one (a server's behaviour)."""


class Host(Protocol):
    """What the shell asks of the world around it."""

    def external(self, argv: list[str], shell: Shell) -> Outcome:
        """Runs a command that is not a builtin."""
        ...

    def date(self, t: float) -> str:
        """What ``date`` prints at time ``t``."""
        ...


@dataclass(slots=True)
class End:
    """How a script run ended."""

    forever: bool
    """True: it never ends by itself (``code`` is meaningless)."""
    code: int = 0
    t: float = 0.0
    """When it ended, or when it settled into running for ever."""
    via: str = ""
    """For ``forever``: ``"loop"`` (a steady loop), ``"wait"`` (waiting for a background job),
    ``"foreground"`` (``sleep infinity``, ``tail -f``), ``"program"`` (a long-running program), ``"steps"``."""
    periodic: list[tuple[float, float, list[tuple[float, str, str]]]] = field(default_factory=list)
    """Steady loops: ``(first_at, period_s, [(offset_s, stream, text)])``."""
    program: tuple[float, Any] | None = None
    """The long-running program it ended in (or left in the background): ``(since, host description)``."""
    execed: bool = False
    """The program replaced the shell (``exec``, or the script was that one command): it is PID 1."""
    loop_period_s: float = 0.0
    """For ``via == "loop"``: how long one iteration of the steady loop takes (0: unknown)."""


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _LoopControl(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        self.kind = kind
        self.levels = levels


class _Forever(Exception):
    def __init__(self, via: str, *, period: tuple[float, float, list[tuple[float, str, str]]] | None = None,
                 program: tuple[float, Any] | None = None, execed: bool = False, loop_period_s: float = 0.0) -> None:
        self.via = via
        self.period = period
        self.program = program
        self.execed = execed
        self.loop_period_s = loop_period_s


_VAR = re.compile(r"\$(\{[^}]*\}|[A-Za-z_]\w*|[?$#!@*0-9])")
_PLACEHOLDER = re.compile("\x01(\\d+)\x02")


def parse_duration_word(word: str) -> float | None:
    """``sleep``'s argument: seconds, with an optional s/m/h/d suffix; ``infinity``; None if not a number."""
    if word.lower() in ("infinity", "inf"):
        return math.inf
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", word)
    if not match:
        return None
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


class Shell:
    """One run of the interpreter: its clock, variables, files and output.

    ``out`` collects ``(t, stream, text)`` lines in the order they were
    written (background jobs may write out of time order; callers sort).
    """

    def __init__(self, host: Host, *, env: Mapping[str, str] | None = None, files: Files | None = None,
                 t: float = 0.0, stdin: str = "") -> None:
        self.host = host
        self.env: dict[str, str] = dict(env or {})
        self.files = files if files is not None else Files()
        self.t = t
        self.stdin = stdin
        self.status = 0
        self.out: list[tuple[float, str, str]] = []
        self.trap_term: str | None = None
        """The action of ``trap ... TERM``, if one was set."""
        self._subs: tuple[tuple[str, str], ...] = ()
        self._sinks: list[list[tuple[float, str, str]]] = []
        self._steps = 0
        self._background_until = 0.0
        self._background_program: tuple[float, Any] | None = None
        self._background_periodic: list[tuple[float, float, list[tuple[float, str, str]]]] = []
        self._loop_depth = 0
        self._sole_command: Simple | None = None

    # -- entry points ---------------------------------------------------------------------------------

    def run(self, script: Script) -> End:
        """Runs a whole script (as ``sh -c``) and says how it ended."""
        items = script.body.items
        self._sole_command = items[0][0] if len(items) == 1 and isinstance(items[0][0], Simple) else None
        try:
            code = self._run_script(script)
            return End(False, code, self.t)
        except _Exit as e:
            return End(False, e.code, self.t)
        except _Forever as f:
            periodic = list(self._background_periodic) + ([f.period] if f.period else [])
            program = f.program or self._background_program
            return End(True, 0, self.t, f.via, periodic, program, f.execed, f.loop_period_s)

    def capture(self, script: Script) -> tuple[int, str, str]:
        """Runs ``script`` (a command substitution, a trap) and returns its status, stdout and stderr."""
        self._sinks.append([])
        try:
            code = self._run_script(script)
        except _Exit as e:
            code = e.code
        finally:
            lines = self._sinks.pop()
        return code, _joined(lines, STDOUT), _joined(lines, STDERR)

    def write(self, stream: str, text: str) -> None:
        """Writes ``text`` (one or more lines) at the current time."""
        if not text:
            return
        sink = self._sinks[-1] if self._sinks else self.out
        for line in text.rstrip("\n").split("\n"):
            sink.append((self.t, stream, line))

    def _run_script(self, script: Script) -> int:
        saved = self._subs
        self._subs = script.subs
        try:
            return self._seq(script.body)
        finally:
            self._subs = saved

    # -- the tree ------------------------------------------------------------------------------------

    def _run(self, node: Any) -> int:
        if isinstance(node, Simple):
            status = self._simple(node)
        elif isinstance(node, Pipeline):
            status = self._pipeline(node)
        elif isinstance(node, AndOr):
            status = self._run(node.first)
            for op, pipeline in node.rest:
                if (op == "&&") == (status == 0):
                    status = self._run(pipeline)
        elif isinstance(node, Seq):
            status = self._seq(node)
        elif isinstance(node, For):
            status = self._for(node)
        elif isinstance(node, Loop):
            status = self._loop(node)
        elif isinstance(node, If):
            status = self._if(node)
        elif isinstance(node, Group):
            status = self._group(node)
        else:
            raise AssertionError(f"unknown shell node {node!r}")
        self.status = status
        return status

    def _seq(self, seq: Seq) -> int:
        status = 0
        for node, background in seq.items:
            status = self._background(node) if background else self._run(node)
        return status

    def _background(self, node: Any) -> int:
        """``cmd &``: it runs beside the script; its end (or never) is what ``wait`` waits for."""
        started = self.t
        try:
            self._run(node)
            ended = self.t
        except _Exit:
            ended = self.t
        except _Forever as f:
            ended = math.inf
            if f.program:
                self._background_program = f.program
            if f.period:
                self._background_periodic.append(f.period)
        self._background_until = max(self._background_until, ended)
        self.t = started
        return 0

    def _pipeline(self, node: Pipeline) -> int:
        stdin = self.stdin
        status = 0
        for i, command in enumerate(node.commands):
            last = i == len(node.commands) - 1
            if not last:
                self._sinks.append([])
            saved_stdin, self.stdin = self.stdin, stdin
            try:
                status = self._run(command)
            finally:
                self.stdin = saved_stdin
                if not last:
                    lines = self._sinks.pop()
                    stdin = _joined(lines, STDOUT)
                    self.write(STDERR, _joined(lines, STDERR))
        return (0 if status else 1) if node.negated else status

    def _for(self, node: For) -> int:
        words: list[str] = []
        for word in node.words:
            words.extend(self._expand(word).split())
        status = 0
        self._loop_depth += 1
        try:
            for value in words[:MAX_ITERATIONS]:
                self.env[node.var] = value
                try:
                    status = self._seq(node.body)
                except _LoopControl as c:
                    if c.levels > 1:
                        raise _LoopControl(c.kind, c.levels - 1) from None
                    if c.kind == "break":
                        break
        finally:
            self._loop_depth -= 1
        return status

    def _loop(self, node: Loop) -> int:
        status = 0
        self._loop_depth += 1
        try:
            for _ in range(MAX_ITERATIONS):
                began, written, state = self.t, len(self._current_sink()), self._state()
                if (self._seq(node.cond) == 0) == node.until:
                    return status
                try:
                    status = self._seq(node.body)
                except _LoopControl as c:
                    if c.levels > 1:
                        raise _LoopControl(c.kind, c.levels - 1) from None
                    if c.kind == "break":
                        return status
                if self._state() == state:
                    # Nothing changed: every later iteration does exactly this again.
                    raise self._steady(began, written)
            raise _Forever("loop")
        finally:
            self._loop_depth -= 1

    def _steady(self, began: float, written: int) -> _Forever:
        if self._sinks:  # inside a pipeline or substitution: its output never completes
            return _Forever("loop")
        lines = [(t - began, stream, text) for t, stream, text in self.out[written:]]
        period = max(self.t - began, MIN_LOOP_PERIOD_S)
        if not lines:
            return _Forever("loop", loop_period_s=period)
        del self.out[written:]  # the period describes them, from their first time on
        return _Forever("loop", period=(began, period, lines), loop_period_s=period)

    def _current_sink(self) -> list[tuple[float, str, str]]:
        return self._sinks[-1] if self._sinks else self.out

    def _state(self) -> tuple[Any, ...]:
        return tuple(sorted(self.env.items())), self.files.snapshot(), self._background_until

    def _if(self, node: If) -> int:
        for cond, body in node.branches:
            if self._seq(cond) == 0:
                return self._seq(body)
        return self._seq(node.otherwise) if node.otherwise else 0

    def _group(self, node: Group) -> int:
        if not node.subshell:
            return self._seq(node.body)
        saved = dict(self.env)
        try:
            return self._seq(node.body)
        except _Exit as e:
            return e.code
        finally:
            self.env = saved

    # -- one command ---------------------------------------------------------------------------------

    def _simple(self, node: Simple) -> int:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise _Forever("steps")
        words = [self._expand(w) for w in node.words]
        assigns: dict[str, str] = {}
        while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0], re.S):
            name, _, value = words.pop(0).partition("=")
            assigns[name] = value
        self.env.update(assigns)
        if not words:
            return 0
        if not node.redirects:
            return self._dispatch(words, sole=node is self._sole_command)
        return self._redirected(words, node.redirects)

    def _redirected(self, argv: list[str], redirects: tuple[tuple[str, str], ...]) -> int:
        saved_stdin = self.stdin
        out_to: tuple[str, bool] | None = None  # (path, append)
        err_to: tuple[str, bool] | None = None
        err_to_out = False
        for op, target in redirects:
            target = self._expand(target)
            if op == "<":
                self.stdin = self.files.read(target) or ""
            elif op in (">", ">>"):
                out_to = (target, op == ">>")
            elif op in ("2>", "2>>"):
                err_to = (target, op == "2>>")
            elif op in ("2>&", ">&") and target == "1":
                err_to_out = True
            elif op == "&>":
                out_to, err_to_out = (target, False), True
        self._sinks.append([])
        try:
            status = self._dispatch(argv, sole=False)
        finally:
            lines = self._sinks.pop()
            self.stdin = saved_stdin
        to_files: dict[str, tuple[bool, list[str]]] = {}
        for stream, dest in ((STDOUT, out_to), (STDERR, out_to if err_to_out else err_to)):
            text = _joined(lines, stream)
            if dest is None:
                self.write(STDOUT if err_to_out else stream, text)
                continue
            path, append = dest
            to_files.setdefault(path, (append, []))[1].extend([text] if text else [])
        for path, (append, texts) in to_files.items():
            old = (self.files.read(path) or "") if append else ""
            self.files.write(path, self.t, old + "".join(t + "\n" for t in texts))
        return status

    def _dispatch(self, argv: list[str], *, sole: bool) -> int:
        builtin = BUILTINS.get(argv[0])
        if builtin is not None:
            return builtin(self, argv)
        outcome = self.host.external(argv, self)
        self.write(STDOUT, outcome.stdout)
        self.write(STDERR, outcome.stderr)
        if outcome.forever:
            raise _Forever("program" if outcome.program is not None else "foreground",
                           program=(self.t, outcome.program) if outcome.program is not None else None,
                           execed=sole)
        self.t += outcome.duration_s
        return outcome.code

    # -- expansion -----------------------------------------------------------------------------------

    def _expand(self, word: str) -> str:
        word = _VAR.sub(self._variable, word)
        if "\x01" in word:
            word = _PLACEHOLDER.sub(self._substitution, word)
        return word.replace(_SQ_DOLLAR, "$")

    def _variable(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("{"):
            inner = name[1:-1]
            var, sep, default = re.match(r"([^:=-]*)(:?[-=]?)(.*)", inner, re.S).groups()  # type: ignore[union-attr]
            value = self.env.get(var, "")
            if sep and (not value if sep.startswith(":") else var not in self.env):
                value = self._expand(default)
                if sep.endswith("="):
                    self.env[var] = value
            return value
        if name == "?":
            return str(self.status)
        if name in ("$", "!"):
            return "1"
        if name == "#":
            return "0"
        return self.env.get(name, "")

    def _substitution(self, match: re.Match[str]) -> str:
        kind, text = self._subs[int(match.group(1))]
        if kind == "arith":
            return str(_arith(self._expand(text), self.env))
        saved = dict(self.env)
        try:
            _, stdout, stderr = self.capture(parse(text))
        finally:
            self.env = saved
        self.write(STDERR, stderr)
        return stdout.rstrip("\n")


def _joined(lines: Iterable[tuple[float, str, str]], stream: str) -> str:
    return "\n".join(text for _, s, text in lines if s == stream)


_ARITH_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Add, ast.Sub,
                ast.Mult, ast.FloorDiv, ast.Mod, ast.USub, ast.UAdd)


def _arith(expr: str, env: Mapping[str, str]) -> int:
    """``$((expr))``: integers, + - * / %, and variable names; anything else is 0."""
    try:
        tree = ast.parse(expr.replace("/", "//"), mode="eval")
    except SyntaxError:
        return 0
    if not all(isinstance(n, _ARITH_NODES) for n in ast.walk(tree)):
        return 0

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return int(node.value) if isinstance(node.value, int) else 0
        if isinstance(node, ast.Name):
            text = env.get(node.id, "0")
            return int(text) if re.fullmatch(r"-?\d+", text) else 0
        if isinstance(node, ast.UnaryOp):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        assert isinstance(node, ast.BinOp)
        left, right = value(node.left), value(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            return 0
        return int(left / right) if isinstance(node.op, ast.FloorDiv) else left - right * int(left / right)

    return value(tree)


# --- builtins ------------------------------------------------------------------------------------------


def _echo(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = escapes or "e" in args[0]
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = text.replace("\\n", "\n").replace("\\t", "\t")
    sh.write(STDOUT, text if newline or text else "")
    return 0


def _printf(sh: Shell, argv: list[str]) -> int:
    if len(argv) < 2:
        return 1
    fmt, args = argv[1].replace("\\n", "\n").replace("\\t", "\t"), iter(argv[2:])
    sh.write(STDOUT, re.sub(r"%[sdi]", lambda _m: next(args, ""), fmt).replace("%%", "%"))
    return 0


def _sleep(sh: Shell, argv: list[str]) -> int:
    total = 0.0
    for word in argv[1:] or [""]:
        seconds = parse_duration_word(word)
        if seconds is None:
            sh.write(STDERR, f"sleep: invalid number '{word}'")
            return 1
        total += seconds
    if math.isinf(total):
        raise _Forever("foreground", execed=sh._sole_command is not None)
    sh.t += total
    return 0


def _exit(sh: Shell, argv: list[str]) -> int:
    code = sh.status
    if len(argv) > 1:
        code = int(argv[1]) & 255 if re.fullmatch(r"-?\d+", argv[1]) else 2
    raise _Exit(code)


def _loop_control(sh: Shell, argv: list[str]) -> int:
    if sh._loop_depth == 0:
        return 0
    levels = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    raise _LoopControl(argv[0], max(levels, 1))


def _touch(sh: Shell, argv: list[str]) -> int:
    for path in (a for a in argv[1:] if not a.startswith("-")):
        if sh.files.read(path) is None:
            sh.files.write(path, sh.t, "")
    return 0


def _rm(sh: Shell, argv: list[str]) -> int:
    force = any(a.startswith("-") and "f" in a for a in argv[1:])
    status = 0
    for path in (a for a in argv[1:] if not a.startswith("-")):
        removed = sh.files.remove(path, sh.t)
        for child in [p for p in sh.files.current if p.startswith(path.rstrip("/") + "/")]:
            removed = sh.files.remove(child, sh.t) or removed
        if not removed and not force and not sh.files.exists(path):
            sh.write(STDERR, f"rm: can't remove '{path}': No such file or directory")
            status = 1
    return status


def _mkdir(sh: Shell, argv: list[str]) -> int:
    for path in (a for a in argv[1:] if not a.startswith("-")):
        if not sh.files.is_dir(path):
            sh.files.write(path.rstrip("/") + "/", sh.t, "")
    return 0


def _cat(sh: Shell, argv: list[str]) -> int:
    paths = [a for a in argv[1:] if not a.startswith("-") or a == "-"]
    if not paths:
        sh.write(STDOUT, sh.stdin)
        return 0
    status = 0
    for path in paths:
        text = sh.stdin if path == "-" else sh.files.read(path)
        if text is None:
            sh.write(STDERR, f"cat: can't open '{path}': No such file or directory")
            status = 1
        else:
            sh.write(STDOUT, text)
    return status


def _ls(sh: Shell, argv: list[str]) -> int:
    status = 0
    for path in [a for a in argv[1:] if not a.startswith("-")] or ["."]:
        if path == "." or sh.files.is_dir(path):
            prefix = "/" if path == "." else path.rstrip("/") + "/"
            names = sorted({p[len(prefix):].split("/", 1)[0] for p in sh.files.current if p.startswith(prefix)})
            sh.write(STDOUT, "\n".join(n for n in names if n))
        elif sh.files.exists(path):
            sh.write(STDOUT, path)
        else:
            sh.write(STDERR, f"ls: {path}: No such file or directory")
            status = 1
    return status


def _test(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            sh.write(STDERR, "[: missing ]")
            return 2
        args = args[:-1]
    return 0 if _truth(sh, args) else 1


def _truth(sh: Shell, args: list[str]) -> bool:
    if not args:
        return False
    if args[0] == "!":
        return not _truth(sh, args[1:])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        checks: dict[str, Callable[[str], bool]] = {
            "-e": sh.files.exists, "-f": lambda p: sh.files.read(p) is not None and not sh.files.is_dir(p),
            "-d": sh.files.is_dir, "-s": lambda p: bool(sh.files.read(p)), "-r": sh.files.exists,
            "-w": sh.files.exists, "-x": sh.files.exists, "-z": lambda s: s == "", "-n": lambda s: s != "",
        }
        return checks[op](operand) if op in checks else False
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        numbers = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                   "-gt": int.__gt__, "-ge": int.__ge__}
        if op in numbers and re.fullmatch(r"-?\d+", left) and re.fullmatch(r"-?\d+", right):
            return bool(numbers[op](int(left), int(right)))
    if "-a" in args:
        i = args.index("-a")
        return _truth(sh, args[:i]) and _truth(sh, args[i + 1:])
    if "-o" in args:
        i = args.index("-o")
        return _truth(sh, args[:i]) or _truth(sh, args[i + 1:])
    return False


def _trap(sh: Shell, argv: list[str]) -> int:
    if len(argv) >= 3 and any(s.upper().removeprefix("SIG") in ("TERM", "15") for s in argv[2:]):
        sh.trap_term = argv[1]
    return 0


def _wait(sh: Shell, argv: list[str]) -> int:
    if math.isinf(sh._background_until):
        raise _Forever("wait")
    sh.t = max(sh.t, sh._background_until)
    return 0


def _exec(sh: Shell, argv: list[str]) -> int:
    if len(argv) == 1:
        return 0
    rest = argv[1:]
    builtin = BUILTINS.get(rest[0])
    if builtin is not None:
        raise _Exit(builtin(sh, rest))
    outcome = sh.host.external(rest, sh)
    sh.write(STDOUT, outcome.stdout)
    sh.write(STDERR, outcome.stderr)
    if outcome.forever:
        raise _Forever("program" if outcome.program is not None else "foreground",
                       program=(sh.t, outcome.program) if outcome.program is not None else None, execed=True)
    sh.t += outcome.duration_s
    raise _Exit(outcome.code)


def _printenv(sh: Shell, argv: list[str]) -> int:
    if len(argv) > 1 and argv[0] == "printenv":
        values = [sh.env[name] for name in argv[1:] if name in sh.env]
        sh.write(STDOUT, "\n".join(values))
        return 0 if len(values) == len(argv) - 1 else 1
    if len(argv) > 1:  # env VAR=value cmd ...
        rest = list(argv[1:])
        while rest and "=" in rest[0]:
            name, _, value = rest.pop(0).partition("=")
            sh.env[name] = value
        return sh._dispatch(rest, sole=False) if rest else 0
    sh.write(STDOUT, "\n".join(f"{k}={v}" for k, v in sorted(sh.env.items())))
    return 0


def _seq_numbers(sh: Shell, argv: list[str]) -> int:
    numbers = [int(a) for a in argv[1:] if re.fullmatch(r"-?\d+", a)]
    if not numbers or len(numbers) != len(argv) - 1:
        return 1
    first, step, last = (1, 1, numbers[0]) if len(numbers) == 1 else \
        (numbers[0], 1, numbers[1]) if len(numbers) == 2 else (numbers[0], numbers[1], numbers[2])
    if step == 0:
        return 1
    values = range(first, last + (1 if step > 0 else -1), step)
    sh.write(STDOUT, "\n".join(str(v) for v in values[:MAX_ITERATIONS]))
    return 0


def _grep(sh: Shell, argv: list[str]) -> int:
    flags = "".join(a[1:] for a in argv[1:] if a.startswith("-"))
    rest = [a for a in argv[1:] if not a.startswith("-")]
    if not rest:
        return 2
    pattern, paths = rest[0], rest[1:]
    text = "\n".join((sh.files.read(p) or "") for p in paths) if paths else sh.stdin
    try:
        regex = re.compile(pattern, re.I if "i" in flags else 0)
    except re.error:
        regex = re.compile(re.escape(pattern), re.I if "i" in flags else 0)
    lines = [line for line in text.split("\n") if bool(regex.search(line)) != ("v" in flags)]
    if "q" not in flags:
        sh.write(STDOUT, "\n".join(lines))
    return 0 if lines and text else 1


def _tail(sh: Shell, argv: list[str]) -> int:
    if any(a in ("-f", "-F", "--follow") for a in argv[1:]):
        raise _Forever("foreground", execed=sh._sole_command is not None)
    return _cat(sh, [a for a in argv if not a.startswith("-") and not a.isdigit()])


def _const(text: str, code: int = 0) -> Callable[[Shell, list[str]], int]:
    def builtin(sh: Shell, argv: list[str]) -> int:
        sh.write(STDOUT, text)
        return code
    return builtin


def _hostname(sh: Shell, argv: list[str]) -> int:
    sh.write(STDOUT, sh.env.get("HOSTNAME", "localhost"))
    return 0


def _date(sh: Shell, argv: list[str]) -> int:
    sh.write(STDOUT, sh.host.date(sh.t))
    return 0


def _export(sh: Shell, argv: list[str]) -> int:
    for word in argv[1:]:
        name, sep, value = word.partition("=")
        if sep:
            sh.env[name] = value
    return 0


def _unset(sh: Shell, argv: list[str]) -> int:
    for name in argv[1:]:
        sh.env.pop(name, None)
    return 0


BUILTINS: dict[str, Callable[[Shell, list[str]], int]] = {
    ":": _const(""), "true": _const(""), "false": _const("", 1), "echo": _echo, "printf": _printf,
    "sleep": _sleep, "exit": _exit, "return": _exit, "break": _loop_control, "continue": _loop_control,
    "touch": _touch, "rm": _rm, "mkdir": _mkdir, "cat": _cat, "ls": _ls, "test": _test, "[": _test, "trap": _trap,
    "wait": _wait, "exec": _exec, "env": _printenv, "printenv": _printenv, "seq": _seq_numbers, "grep": _grep,
    "tail": _tail, "hostname": _hostname, "date": _date, "export": _export, "unset": _unset,
    "cd": _const(""), "set": _const(""), "umask": _const(""), "ulimit": _const(""), "shift": _const(""),
    "read": _const("", 1), "source": _const(""), ".": _const(""), "whoami": _const("root"),
    "id": _const("uid=0(root) gid=0(root) groups=0(root)"), "uname": _const("Linux"), "pwd": _const("/"),
}
"""Commands the shell runs itself; everything else goes to :meth:`Host.external`."""
