"""Errors a user can cause.

Every mistake in a user's inputs raises :class:`InputError` (or a subclass) whose message names
the file, the record or line when there is one, what is wrong, and what to do about it. The CLI
prints it in one or two lines and exits with status 2; library callers can catch it.
"""

from __future__ import annotations

import os


class InputError(ValueError):
    """A problem with a user's input: a file, a record in it, or an argument.

    Parameters
    ----------
    problem
        What is wrong, in one sentence.
    path
        The file concerned, if any.
    line
        1-based line number (or record number) in ``path``, if known.
    hint
        What the user can do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | os.PathLike | None = None,
        line: int | None = None,
        hint: str | None = None,
    ):
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f", line {self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        msg = where + self.problem
        if self.hint:
            msg += f"\n  hint: {self.hint}"
        return msg


def few(names, k: int = 5, *, sort: bool = True) -> str:
    """``a, b, c, ... (N in all)`` for error messages: the first ``k`` names (sorted, without
    repeats, unless ``sort=False`` keeps them as given); ``(none)`` when there are none."""
    names = sorted(set(map(str, names))) if sort else [str(n) for n in names]
    shown = ", ".join(names[:k])
    if len(names) > k:
        shown += f", ... ({len(names)} in all)"
    return shown or "(none)"
