"""Send OpenLineage run events of the pipeline's steps with the ``openlineage-python`` client.

Configured the client's standard way: ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_ENDPOINT`` and
``OPENLINEAGE_API_KEY``), ``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` in the working directory
or ``~/.openlineage``, ``OPENLINEAGE__TRANSPORT__...`` variables; ``OPENLINEAGE_DISABLED=true``
turns it off. With none of them, :class:`Lineage` constructs no client and imports nothing of the
client, and a step costs one attribute check.

A lineage problem never fails the pipeline: the first one (a receiver that is down, an invalid
configuration) is logged once as a warning and the rest of the run sends nothing more, so a dead
receiver costs one delivery attempt per run, not one per event.
"""

from __future__ import annotations

import atexit
import logging
import os
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from treasury_lakehouse import __version__
from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.lineage.model import LineageDataset

log = logging.getLogger(__name__)

#: the producer URI of every event and facet
PRODUCER = f"urn:treasury-lakehouse:{__version__}"
#: the job namespace, unless OPENLINEAGE_NAMESPACE names another
DEFAULT_NAMESPACE = "treasury-lakehouse"

#: how long an exiting process waits for an asynchronous transport to deliver queued events
CLOSE_TIMEOUT_S = 5.0

EventType = Literal["START", "COMPLETE", "FAIL", "ABORT"]
Datasets = Callable[[], list[LineageDataset]]


def lineage_configured() -> bool:
    """True when the client's standard configuration asks for events (and does not disable
    them). Looks at the environment and two files only: nothing is imported."""
    env = os.environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or env.get("OPENLINEAGE_CONFIG"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in env):
        return True
    files = (Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml")
    return any(path.is_file() for path in files)


def job_namespace() -> str:
    return os.environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE


def parent_run_id(run_id: str) -> str:
    """The OpenLineage run id (a UUID) of the pipeline run ``run_id``: the same for every step of
    a run, in the CLI and in each Airflow task of a DAG run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PRODUCER}/run/{run_id}"))


class Step:
    """A running step: what it reads and writes (functions, evaluated only when lineage is on)
    and whether it failed without raising (a quality check whose gate fails)."""

    def __init__(self, inputs: Datasets | None, outputs: Datasets | None) -> None:
        self.inputs, self.outputs = inputs, outputs
        self.failure: str | None = None

    def set_inputs(self, inputs: Datasets) -> None:
        self.inputs = inputs

    def set_outputs(self, outputs: Datasets) -> None:
        self.outputs = outputs

    def fail(self, message: str) -> None:
        """End the step with FAIL instead of COMPLETE, though nothing was raised."""
        self.failure = message


class Lineage:
    """The lineage of one facade call: each :meth:`step` is an OpenLineage job run whose parent
    is the pipeline run ``run_id``."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.enabled = lineage_configured()
        self._client: Any = None

    @contextmanager
    def step(
        self, job: str, inputs: Datasets | None = None, outputs: Datasets | None = None
    ) -> Iterator[Step]:
        """START when entered, then COMPLETE, or FAIL when the body raises or calls
        :meth:`Step.fail` (ABORT on an interrupt); the exception propagates unchanged."""
        step = Step(inputs, outputs)
        if not self.enabled:
            yield step
            return
        step_run = self._new_run_id()
        self._send("START", job, step_run, step)
        try:
            yield step
        except Exception as error:
            self._send("FAIL", job, step_run, step, error=error)
            raise
        except BaseException:
            self._send("ABORT", job, step_run, step)
            raise
        if step.failure is not None:
            self._send("FAIL", job, step_run, step, message=step.failure)
        else:
            self._send("COMPLETE", job, step_run, step)

    def _new_run_id(self) -> str:
        try:
            from openlineage.client.uuid import generate_new_uuid
        except ImportError:
            return str(uuid.uuid4())
        return str(generate_new_uuid())

    def _send(
        self,
        event_type: EventType,
        job: str,
        step_run: str,
        step: Step,
        error: BaseException | None = None,
        message: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        try:
            from treasury_lakehouse.lineage.events import run_event

            event = run_event(
                event_type,
                job=job,
                namespace=job_namespace(),
                run_id=step_run,
                parent_run_id=parent_run_id(self.run_id),
                inputs=step.inputs() if step.inputs else [],
                outputs=step.outputs() if step.outputs else [],
                error=_error_text(error, message),
                producer=PRODUCER,
            )
            self._client_or_new().emit(event)
        except Exception as failure:  # lineage must never fail the pipeline
            self.enabled = False
            log.warning(
                "OpenLineage events of run %s are not sent (%s); the pipeline goes on "
                "without lineage",
                self.run_id,
                _describe(failure),
            )

    def _client_or_new(self) -> Any:
        if self._client is None:
            from openlineage.client import OpenLineageClient

            self._client = OpenLineageClient()
            _OPEN_CLIENTS.add(self._client)
        return self._client


#: clients still alive; closed when the process exits, so that an asynchronous transport
#: delivers what it queued (held weakly: a finished run's client goes with its Lineage)
_OPEN_CLIENTS: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _close_clients() -> None:
    for client in list(_OPEN_CLIENTS):
        with suppress(Exception):  # the process is ending: nothing left to tell
            client.close(CLOSE_TIMEOUT_S)


def _describe(failure: Exception) -> str:
    """One line, credentials in URLs masked."""
    if isinstance(failure, ImportError):
        return (
            f"{failure}: install the lineage extra, pip install 'treasury-lakehouse[lineage]', "
            "or unset OPENLINEAGE_URL / OPENLINEAGE_CONFIG"
        )
    text = str(failure).strip()
    return mask_dsn(f"{type(failure).__name__}: {text.splitlines()[0] if text else ''}")


def _error_text(error: BaseException | None, message: str | None) -> tuple[str, str | None] | None:
    """(message, stack trace) of a failed step."""
    if error is not None:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return f"{type(error).__name__}: {error}", trace
    if message is not None:
        return message, None
    return None
