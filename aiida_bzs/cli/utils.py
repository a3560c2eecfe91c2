"""Shared pieces of the command line: profile loading, one error style, launching with progress.

Every refusal of ``aiida-bzs`` (bad input rejected by a process validator, a missing code, a
protocol's minimum size, a bad file) ends as one ``Error: …`` line naming the fix, never a
traceback: :func:`refusal_message` recognises them, :func:`launch` and the root group
(:mod:`aiida_bzs.cli`) turn them into ``click.ClickException``. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager

import click

#: Seconds between refreshes of the progress line when stderr is a terminal.
PROGRESS_TTY_INTERVAL = 1.0
#: Seconds between progress lines when stderr is a file or pipe (logs stay short).
PROGRESS_LOG_INTERVAL = 60.0
#: Environment variable: set to 0 to switch the progress display off.
PROGRESS_ENV = "AIIDA_BZS_PROGRESS"


def with_profile(func):
    """Load the selected (or default) AiiDA profile before ``func``; fail with the fix, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from aiida.common.exceptions import ConfigurationError, LockedProfileError
        from aiida.manage import get_manager

        manager = get_manager()
        try:
            if manager.get_profile() is None:
                manager.load_profile()
            manager.get_profile_storage()
        except (ConfigurationError, LockedProfileError) as exc:
            reason = str(exc).splitlines()[0]
            raise click.ClickException(
                f"no usable AiiDA profile ({reason}); run ./setup.sh or `verdi presto`"
            ) from exc
        return func(*args, **kwargs)

    return wrapper


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def refusal_message(exc: BaseException) -> str | None:
    """The one-line message of a refusal meant for the user, or None for anything else (a bug).

    Refusals: a process validator's verdict at launch (plumpy raises ``ValueError`` wrapping a
    ``PortValidationError``), aiida's ``InputValidationError``, and the package's own input errors
    (missing code or pseudo family, unknown protocol, bad structure, dataset, fit or MD input).
    """
    from plumpy.ports import PortValidationError

    if isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], PortValidationError):
        error = exc.args[0]
        where = "" if error.port in ("", "inputs") else f"input `{error.port.removeprefix('inputs.')}`: "
        return _one_line(f"{where}{error.message}")
    lookups = _classes(LOOKUP_REFUSALS)
    if lookups and isinstance(exc, lookups) and exc.args:
        return _one_line(exc.args[0])  # LookupErrors: str() would quote the message
    domain = _classes(REFUSALS)
    if domain and isinstance(exc, domain):
        return _one_line(exc)
    return None


#: Exceptions that are refusals of the user's input (module, class), whose message names the fix.
REFUSALS = (
    ("aiida.common.exceptions", "InputValidationError"),
    ("aiida_bzs.training.dataset", "DatasetError"),
    ("aiida_bzs.analysis.errors", "AnalysisInputError"),
    ("aiida_bzs.md.programme", "MdInputError"),
    ("aiida_bzs.common.fit_checks", "FitInputError"),
    ("aiida_bzs.common.pacemaker_input", "FitParameterError"),
    ("aiida_bzs.common.potential_quality", "PotentialQualityError"),
    ("aiida_bzs.data.ace_potential", "AcePotentialError"),
    ("aiida_bzs.structures.errors", "StructureInputError"),
    ("aiida_bzs.workflows.protocols", "ProtocolOverrideError"),
)
#: The same for LookupError subclasses (their ``str()`` is quoted, so the message is ``args[0]``).
LOOKUP_REFUSALS = (
    ("aiida_bzs.workflows.protocols", "ProtocolError"),
    ("aiida_bzs.common.codes", "MissingCodeError"),
    ("aiida_bzs.common.pseudos", "PseudoFamilyError"),
)


def _classes(names) -> tuple[type, ...]:
    """The exception classes of ``names`` that can be imported (a renamed one is skipped, so
    reporting an error never fails on an import)."""
    import importlib

    found = []
    for module, name in names:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


@contextmanager
def refusals_as_click_errors():
    """Turn a refusal (:func:`refusal_message`) raised inside into one ``click.ClickException`` line."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as exc:
        message = refusal_message(exc)
        if message is None:
            raise
        raise click.ClickException(message) from exc


class _ShortTracebacks(logging.Filter):
    """Console only: a process's ``on_except`` report (a whole traceback) becomes its last line and
    where to read the rest; the log file and the node's log keep it whole."""

    pattern = re.compile(r"^(\[(\d+)\|[^\]]*\]: )Traceback \(most recent call last\):")

    def __init__(self, handler: logging.Handler):
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - leave records we cannot read alone
            return True
        match = self.pattern.match(message)
        if not match:
            return True
        last = [line for line in message.splitlines() if line.strip()][-1].strip()
        short = f"{match.group(1)}{last} (traceback: `verdi process report {match.group(2)}`)"
        self.handler.emit(logging.makeLogRecord({**record.__dict__, "msg": short, "args": ()}))
        return False


def _console_handlers() -> list[logging.Handler]:
    """aiida's console handlers now (the CLI handler, stream handlers; not files or the database)."""
    from aiida.cmdline.utils.log import CliHandler

    return [h for h in logging.getLogger("aiida").handlers
            if isinstance(h, CliHandler) or (isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler))]


@contextmanager
def short_process_tracebacks():
    """While a command runs, print a failed process's traceback as one line on the console.

    aiida reconfigures its handlers while the command loads its profile, so the console filter is
    attached when a record is created (a record factory), to the handlers of that moment.
    """
    previous = logging.getLogRecordFactory()
    attached: list[tuple[logging.Handler, _ShortTracebacks]] = []

    def factory(*args, **kwargs):
        for handler in _console_handlers():
            if not any(isinstance(f, _ShortTracebacks) for f in handler.filters):
                flt = _ShortTracebacks(handler)
                handler.addFilter(flt)
                attached.append((handler, flt))
        return previous(*args, **kwargs)

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)
        for handler, flt in attached:
            handler.removeFilter(flt)


def format_pks(pks) -> str:
    """PKs as a short list with ranges, e.g. ``12-15, 18`` (for the line a generator prints)."""
    pks = sorted(int(pk) for pk in pks)
    parts, start = [], None
    for i, pk in enumerate(pks):
        if start is None:
            start = pk
        if i + 1 == len(pks) or pks[i + 1] != pk + 1:
            parts.append(str(start) if start == pk else f"{start}-{pk}")
            start = None
    return ", ".join(parts)


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """One status line for a process run in this process: stage, children done/total, elapsed.

    ``stage`` is the workchain step being executed; children are the CalcJobs and WorkChains it
    called (process functions are quick and not counted); ``total`` comes from the argument or from
    the ``bzs_progress_total`` extra a workchain may set (DftLabelWorkChain does). Refreshed in place on a terminal,
    otherwise one line per :data:`PROGRESS_LOG_INTERVAL` s when something changed, so logs stay
    readable. One query of the children per refresh: negligible against jobs of seconds or more.
    """

    def __init__(self, node, total: int | None = None, unit: str = "jobs", stream=None, tty: bool | None = None):
        self.node = node
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = PROGRESS_TTY_INTERVAL if self.tty else PROGRESS_LOG_INTERVAL
        self.start = time.monotonic()
        self._last_state = None
        self._last_width = 0

    def counts(self) -> tuple[int, int]:
        """(finished, running) child CalcJobs and WorkChains of the process."""
        from aiida import orm

        query = orm.QueryBuilder()
        query.append(orm.ProcessNode, filters={"id": self.node.pk}, tag="parent")
        query.append((orm.CalcJobNode, orm.WorkChainNode), with_incoming="parent",
                     project=["attributes.process_state"])
        states = [state for (state,) in query.iterall()]
        done = sum(state in ("finished", "excepted", "killed") for state in states)
        return done, len(states) - done

    def stage(self) -> str:
        """The workchain step now executing (e.g. ``launch_batch``), else the process state."""
        info = self.node.base.attributes.get("stepper_state_info", None)
        if info:  # e.g. '2:while_(has_pending)(1:inspect_batch)': the innermost step, else the condition
            names = [name for name in re.findall(r"\w+", str(info)) if not name.isdigit()]
            steps = [name for name in names if name not in ("while_", "if_", "None")]
            if steps:
                return steps[-1]
        state = self.node.process_state
        return state.value if state is not None else "created"

    def status(self) -> tuple[str, tuple]:
        """The status line and the part of it that is not the clock (to see whether it changed)."""
        done, running = self.counts()
        from ..workflows.label import PROGRESS_TOTAL_EXTRA

        total = self.total if self.total is not None else self.node.base.extras.get(PROGRESS_TOTAL_EXTRA, None)
        label = self.node.process_label or "process"
        jobs = f"{done}/{total} {self.unit} done" if total else f"{done} {self.unit} done"
        state = (self.stage(), done, running, total)
        line = f"{label} pk {self.node.pk} | {state[0]} | {jobs}, {running} running | {_elapsed(time.monotonic() - self.start)}"
        return line, state

    def clear(self, _record=None) -> bool:
        """Blank the in-place line (before a log message is printed on the terminal); as a logging
        filter it lets the record through."""
        if self.tty and self._last_width:
            self.stream.write("\r" + " " * self._last_width + "\r")
            self.stream.flush()
            self._last_width = 0
        return True

    def update(self, final: bool = False) -> None:
        """Print the status: in place on a terminal; a new line elsewhere when it changed."""
        line, state = self.status()
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns - 1
            line = line[:width]
            self.stream.write("\r" + line + " " * max(0, self._last_width - len(line)) + ("\n" if final else ""))
            self._last_width = len(line)
        elif state != self._last_state or final:
            self.stream.write(line + "\n")
        self._last_state = state
        self.stream.flush()


@contextmanager
def progress_display(process, total: int | None = None, unit: str = "jobs", stream=None, tty: bool | None = None):
    """Show :class:`Progress` of ``process`` (an instantiated ``Process``) while it runs on its
    runner's event loop in this thread (the refresh is a loop callback: no thread touches the
    database). Off when ``AIIDA_BZS_PROGRESS=0``."""
    if os.environ.get(PROGRESS_ENV, "1") == "0":
        yield None
        return
    progress = Progress(process.node, total, unit, stream, tty)
    loop = process.runner.loop
    handle = None

    def tick():
        nonlocal handle
        try:
            progress.update()
        except Exception:  # noqa: BLE001 - a display must never break the run
            return
        handle = loop.call_later(progress.interval, tick)

    handle = loop.call_later(progress.interval, tick)
    handlers = _console_handlers() if progress.tty else []
    for handler in handlers:  # reports go to the same terminal: blank the line before each
        handler.addFilter(progress.clear)
    try:
        yield progress
    finally:
        for handler in handlers:
            handler.removeFilter(progress.clear)
        if handle is not None:
            handle.cancel()
        if progress.tty or progress._last_state is not None:
            try:
                progress.update(final=True)
            except Exception:  # noqa: BLE001
                pass


def launch(process, submit: bool = False, inputs: dict | None = None, *, check: bool = True,
           total: int | None = None, unit: str = "jobs"):
    """Run ``process`` (builder, or class with ``inputs``) in this process with a progress line on
    stderr (see :class:`Progress`; ``total`` children in ``unit``) and return its node, or submit
    it to the daemon (returns ``None`` after printing the PK; needs `verdi daemon start`).

    A refusal at launch (validator, missing code, …) becomes one ``click.ClickException`` line;
    with ``check`` a process that did not finish ok does too, naming `verdi process report`.
    """
    from aiida.engine import submit as submit_process
    from aiida.engine.utils import loop_scope
    from aiida.manage import get_manager

    inputs = dict(inputs or {})
    with refusals_as_click_errors():
        if submit:
            node = submit_process(process, **inputs)
            click.echo(f"submitted {node.process_label} pk {node.pk}; follow with `verdi process report {node.pk}`")
            return None
        runner = get_manager().create_runner(communicator=None)
        with loop_scope(runner.loop):
            instance = runner.instantiate_process(process, **inputs)
    with progress_display(instance, total, unit):
        _, node = runner.run_get_node(instance)
    if check and not node.is_finished_ok:
        raise click.ClickException(
            f"{node.process_label} pk {node.pk} failed: [{node.exit_status}] "
            f"{node.exit_message}; see `verdi process report {node.pk}`"
        )
    return node


def load_typed_node(identifier: str, node_class):
    """Load node ``identifier`` (pk, UUID or label) and check it is a ``node_class``; else a usage error."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        node = orm.load_node(identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise click.BadParameter(f"no single node {identifier!r}: {exc}") from exc
    if not isinstance(node, node_class):
        raise click.BadParameter(f"node {identifier} is a {type(node).__name__}, not a {node_class.__name__}")
    return node


def unique_link_label(text: str, taken: set[str]) -> str:
    """A link-label-safe key made from ``text``, unique among ``taken`` (which it joins).

    Used to key structures in a workchain's dynamic namespace from file names or node labels.
    """
    key = re.sub(r"\W+", "_", text).strip("_") or "structure"
    if key[0].isdigit():
        key = f"s_{key}"
    base, k = key, 2
    while key in taken:
        key, k = f"{base}_{k}", k + 1
    taken.add(key)
    return key
