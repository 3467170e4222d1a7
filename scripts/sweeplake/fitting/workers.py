"""Worker processes for the fits, each on its own pipe, so that one dying never stalls the rest.

concurrent.futures' pool shares one result queue and its lock among all workers: a worker killed
(by the OOM killer, say) while sending can leave the others blocked on that lock and the parent
reading half a message forever. Here each worker has a pipe of its own: its death is an end of
file on that pipe, its trials fail, and the batch goes on with the others.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait

from sweeplake.fitting.fit import Outcome, TrialInputs, run_trial, utc_now
from sweeplake.lake.base import deflate
from sweeplake.samplers.space import Trial

IN_FLIGHT = 2  # trials queued per worker: the next one is there when the last one ends
WORKER_DIED = "the worker process fitting this trial died (killed, or out of memory)"
OVERRAN = "the trial was still running when the batch's time was up"


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    pipe: Connection
    queued: deque[tuple[Trial, str]] = field(default_factory=deque)
    dead: bool = False  # a send found its pipe broken; the EOF is still to be read


def _serve(
    pipe: Connection, inputs: TrialInputs, parent_ends: list[Connection], deflated: bool
) -> None:
    # The parent's ends of the pipes, inherited by the fork: held here, they would keep this
    # pipe open after the parent died (kill -9), and the worker would wait on it forever.
    for end in parent_ends:
        end.close()
    try:
        while (task := pipe.recv()) is not None:
            outcome = run_trial(inputs, *task)
            pipe.send(deflated_lines(outcome) if deflated else outcome)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # The batch's process is gone (killed): nobody waits for this trial. Its stderr is
        # the run's, whose last line says how the run ended; a traceback here would bury it.
        return


def deflated_lines(outcome: Outcome) -> Outcome:
    """The outcome with its fact and out-of-fold lines deflated here, on the worker's core, for
    the batch's gzip member (lake/base.py's Deflated): a seventh of the bytes through the pipe,
    and the batch's process, which shares the cores with the workers, only appends them."""
    facts, oof = outcome.facts, outcome.oof
    return replace(
        outcome,
        facts=deflate(facts) if isinstance(facts, str) else facts,
        oof=deflate(oof) if isinstance(oof, str) else oof,
    )


class WorkerPool:
    """Forked workers that inherit the batch's inputs once, then take trials one at a time;
    with `deflated`, their outcomes' lines come back deflated (see deflated_lines)."""

    def __init__(self, inputs: TrialInputs, size: int, deflated: bool = False) -> None:
        context = multiprocessing.get_context("fork")
        self.workers: list[Worker] = []
        for _ in range(size):
            mine, theirs = context.Pipe()
            parent_ends = [worker.pipe for worker in self.workers] + [mine]
            process = context.Process(
                target=_serve, args=(theirs, inputs, parent_ends, deflated), daemon=True
            )
            process.start()
            theirs.close()  # the worker's end lives in the worker alone: its death is our EOF
            self.workers.append(Worker(process, mine))
        self.lost = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            try:
                worker.pipe.send(None)
            except OSError:
                pass
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.pipe.close()

    def has_room(self) -> bool:
        return any(len(w.queued) < IN_FLIGHT for w in self.workers if not w.dead)

    def busy(self) -> bool:
        return any(w.queued or w.dead for w in self.workers)

    def submit(self, trial: Trial, hyper_id: str, medians: tuple[float, ...] | None = None) -> bool:
        """Queue the trial on the least busy live worker, with the medians it must reach
        (--prune); False when none is left."""
        for worker in sorted((w for w in self.workers if not w.dead), key=lambda w: len(w.queued)):
            try:
                worker.pipe.send((trial, hyper_id, medians))
            except OSError:  # died since its last answer: results() reads its end of file
                worker.dead = True
                continue
            worker.queued.append((trial, hyper_id))
            return True
        return False

    def results(self, timeout: float | None) -> Iterator[Outcome]:
        """The outcomes that arrive within `timeout`; a dead worker's trials come back failed."""
        pipes = {w.pipe: w for w in self.workers if w.queued or w.dead}
        for pipe in wait(list(pipes), timeout):
            worker = pipes[pipe]
            try:
                outcome = pipe.recv()
            except (EOFError, OSError):
                yield from self._fail(worker, WORKER_DIED)
                self.workers.remove(worker)
                self.lost += 1
                continue
            worker.queued.popleft()
            yield outcome

    def abandon(self) -> Iterator[Outcome]:
        """Stop every worker still fitting; their trials come back failed."""
        for worker in [w for w in self.workers if w.queued]:
            worker.process.kill()
            yield from self._fail(worker, OVERRAN)
            self.workers.remove(worker)

    @staticmethod
    def _fail(worker: Worker, reason: str) -> Iterator[Outcome]:
        while worker.queued:
            trial, hyper_id = worker.queued.popleft()
            yield Outcome(hyper_id, trial, utc_now(), None, None, None, reason)
