"""The site runtime: runs tasks on local data through a chain of middleware.

A site's handler never raises into the hub: failures become ``failed`` replies whose
error text is the exception class and, for accord's own errors (which never carry data
values), its message. Foreign exceptions may embed values, so only their class is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from accord.core import (
    AccordError,
    MissingFileError,
    PolicyError,
    PrivacyError,
    StudySpec,
    TransportError,
)
from accord.data import SiteCohort
from accord.net import Reply, Task

__all__ = ["Handler", "Middleware", "Site", "SiteContext", "refuse_row_level_arrays"]


@dataclass
class SiteContext:
    """Everything a handler may use at one site. Never leaves the site."""

    site: str
    cohort: SiteCohort
    study: StudySpec
    seed: int
    state: dict[str, Any] = field(default_factory=dict)
    dataset_id: str = ""


Handler = Callable[[Task, SiteContext], Reply]
Middleware = Callable[[Task, SiteContext, Handler], Reply]


def refuse_row_level_arrays(task: Task, ctx: SiteContext, handler: Handler) -> Reply:
    """Refuse to send any array with one entry per patient (a leading axis of length n)."""
    reply = handler(task, ctx)
    n_rows = {ctx.cohort.n, ctx.cohort.n_train, ctx.cohort.n_test} - {0, 1}
    for name, array in reply.arrays.items():
        if array.ndim >= 1 and array.shape[0] in n_rows and array.size > 1:
            raise PrivacyError(
                f"site '{ctx.site}': reply array '{name}' has one entry per patient "
                f"(shape {array.shape}); refusing to send it"
            )
    return reply


class Site:
    """A hospital's endpoint: dispatches a task to its handler through the middleware chain."""

    def __init__(
        self,
        context: SiteContext,
        handlers: Mapping[str, Handler],
        middlewares: Sequence[Middleware] = (refuse_row_level_arrays,),
    ) -> None:
        self.context = context
        self._handlers = dict(handlers)
        self._middlewares = tuple(middlewares)

    def handle(self, task: Task) -> Reply:
        try:
            handler = self._handlers.get(task.kind, _unsupported)
            return self._chain(handler)(task, self.context)
        except PolicyError as exc:
            return _failure(task, f"PolicyError: {exc}", status="refused")
        except MissingFileError:  # its message holds the site's own paths: they stay here
            return _failure(task, "MissingFileError: a file or folder is missing at the site")
        except AccordError as exc:
            return _failure(task, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # foreign errors may embed data values: send the class only
            return _failure(task, type(exc).__name__)

    def _chain(self, handler: Handler) -> Handler:
        for middleware in reversed(self._middlewares):
            handler = _wrap(middleware, handler)
        return handler


def _unsupported(task: Task, ctx: SiteContext) -> Reply:
    """Reached only when no middleware claimed a task kind this site has no handler for."""
    raise TransportError(f"site '{ctx.site}' has no handler for tasks of kind '{task.kind}'")


def _wrap(middleware: Middleware, inner: Handler) -> Handler:
    def wrapped(task: Task, ctx: SiteContext) -> Reply:
        return middleware(task, ctx, inner)

    return wrapped


def _failure(task: Task, error: str, status: Literal["failed", "refused"] = "failed") -> Reply:
    return Reply.build(
        task_id=task.task_id, site=task.site, kind=task.kind, status=status, error=error
    )
