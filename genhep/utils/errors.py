"""User errors: the failures the person at the command line can fix, reported in one line.

``genhep train/evaluate/sample/data generate`` report a *user error* as one line, the
exception's type and message (which names the file, key or field), with no Python
traceback. Anything else is a *bug* and keeps its traceback. Either way the job's
``failure.json`` records the full traceback, and ``HYDRA_FULL_ERROR=1`` (Hydra's own
convention) prints it for user errors too.

What counts as a user error (:func:`user_error` decides; this module is the one list):

* genhep's own error classes, wherever raised (:data:`GENHEP_ERRORS`, by name so that this
  module imports none of them): an incompatible model and data family, a run or
  evaluate configuration that cannot work, a file that breaks its family's schema, a
  report's bad input;
* OmegaConf's errors: a missing mandatory value (``???``), an unknown or mistyped key, a
  broken interpolation (:data:`CONFIG_ERRORS`);
* a path that is not there or not usable: ``FileNotFoundError``, ``FileExistsError``,
  ``IsADirectoryError``, ``NotADirectoryError``, ``PermissionError`` (:data:`PATH_ERRORS`);
* ``ValueError``, ``TypeError``, ``KeyError``, ``NotImplementedError`` and ``ImportError``
  raised by a ``raise`` statement in genhep's own code (:data:`VALIDATION_ERRORS`): a
  message genhep wrote for a person (config validation, unknown generator options, a
  missing extra). The same types raised inside a library, or by an accident in genhep
  (``int(None)``, ``d[k]``), are bugs;
* Hydra's ``InstantiationException`` whose cause is one of the above, or a ``TypeError``
  saying that the ``_target_`` does not take an argument the config gives it (or needs
  one it lacks): reported as that cause, with the config node.

Hydra's other errors (an unknown config group option, a bad override) never reach the
task: Hydra prints them compactly itself, as it also does for an ``InstantiationException``
caused by a bug.
"""

from __future__ import annotations

import dis
import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from hydra.errors import CompactHydraException, InstantiationException
from omegaconf.errors import OmegaConfBaseException

#: genhep's error classes (``module.QualName``); subclasses count too. tests/test_cli.py
#: checks that each one still exists.
GENHEP_ERRORS = frozenset(
    {
        "genhep.models.base.IncompatibleDataError",
        "genhep.checks.RunConfigError",
        "genhep.evaluate.EvaluateConfigError",
        "genhep.data.schema.SchemaError",
        "genhep.report.errors.ReportError",
    }
)
CONFIG_ERRORS: tuple[type[BaseException], ...] = (OmegaConfBaseException,)
PATH_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
VALIDATION_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    NotImplementedError,
    ImportError,
)

FULL_ERROR_HINT = "\nSet the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n"

_GENHEP_DIR = Path(__file__).resolve().parent.parent
_SIGNATURE_MISMATCH = re.compile(
    r"unexpected keyword argument|required (positional |keyword-only )?argument"
)
_RAISE = dis.opmap["RAISE_VARARGS"]

T = TypeVar("T")


class UserError(CompactHydraException):
    """A user error on its way to Hydra, which prints a compact exception as its message
    alone (no traceback); the message is :func:`describe` of the original error."""


def full_error_requested() -> bool:
    """``HYDRA_FULL_ERROR=1``: show every traceback (Hydra's own switch, same test)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _innermost(tb: TracebackType | None) -> TracebackType | None:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def _raise_statement_in_genhep(err: BaseException) -> bool:
    """``err`` comes from a ``raise`` statement (not an accident) in genhep's own code."""
    tb = _innermost(err.__traceback__)
    if tb is None:
        return False
    try:
        Path(tb.tb_frame.f_code.co_filename).resolve().relative_to(_GENHEP_DIR)
    except (OSError, ValueError):
        return False
    code = tb.tb_frame.f_code.co_code
    return 0 <= tb.tb_lasti < len(code) and code[tb.tb_lasti] == _RAISE


def _is_genhep_error(err: BaseException) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in GENHEP_ERRORS for c in type(err).__mro__)


def _bad_arguments(err: BaseException) -> bool:
    """A call with arguments the callee does not take (Python's own ``TypeError`` text)."""
    return isinstance(err, TypeError) and bool(_SIGNATURE_MISMATCH.search(str(err)))


def user_error(err: BaseException) -> BaseException | None:
    """The error to report if ``err`` is a user error (module docstring), else ``None`` (a
    bug: keep the traceback). For an ``InstantiationException`` it is the cause."""
    if isinstance(err, InstantiationException):
        cause = err.__cause__
        if cause is None:
            return None
        return cause if _bad_arguments(cause) else user_error(cause)
    if _is_genhep_error(err) or isinstance(err, CONFIG_ERRORS + PATH_ERRORS):
        return err
    if isinstance(err, VALIDATION_ERRORS) and _raise_statement_in_genhep(err):
        return err
    return None


def describe(err: BaseException) -> str:
    """One line: the error's type and message (OmegaConf's message with its key)."""
    if isinstance(err, OmegaConfBaseException):
        # its message goes on with "full_key: ...", "object_type=..." lines
        message = next(iter(str(err).strip().splitlines()), "")
        key = getattr(err, "full_key", None)
        if key and key not in message:
            message += f" (key: {key})"
    elif isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        message = err.args[0]  # str(KeyError) quotes its message
    else:
        message = str(err)
    message = re.sub(r"\s*\n\s*", " ", message.strip())
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def as_user_error(err: Exception) -> Exception:
    """What a task raises to Hydra for ``err``: a :class:`UserError` with its one line for
    a user error (unless ``HYDRA_FULL_ERROR=1``), else ``err`` itself. An error met while
    instantiating a config node names that node (Hydra's ``full_key``)."""
    if full_error_requested():
        return err
    reported = user_error(err)
    if reported is None:
        return err
    line = describe(reported)
    node = re.search(r"^full_key: (\S+)$", str(err), re.MULTILINE)
    if isinstance(err, InstantiationException) and node:
        line += f" (config node: {node.group(1)})"
    return UserError(line)


def reporting_user_errors(task: Callable[..., T]) -> Callable[..., T]:
    """``task`` (a Hydra task function) raising :func:`as_user_error` of its errors.

    It wraps the whole task, so the task's own handlers (``failure.json``, closing the
    loggers) have seen the original error first."""

    @functools.wraps(task)
    def wrapped(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except Exception as err:
            reported = as_user_error(err)
            if reported is err:
                raise
            raise reported from None

    return wrapped


def exit_on_user_error(err: Exception) -> None:
    """Outside Hydra (before it starts): print a user error's one line and the hint on
    stderr and exit with status 1; return for a bug or with ``HYDRA_FULL_ERROR=1``."""
    reported = as_user_error(err)
    if reported is err:
        return
    sys.stderr.write(f"{reported}\n{FULL_ERROR_HINT}")
    raise SystemExit(1) from None
