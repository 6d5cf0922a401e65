"""Report sequencing: a job's report batches reach the scheduler in the order the trial sent them.

A trial sends its reports in numbered batches (``seq`` 0, 1, ...) and only
waits for an answer at a milestone, so batches can overtake each other on the
way. `ReportSequencer` hands each job's batches to ``process`` strictly in
order: an early batch waits in the job's ``pending``, its sender (if it wants
the decision) waits for a future that is answered once the batch is processed.
``process(rj, rows) -> answer`` is synchronous and never awaits, so two
decisions never interleave on the scheduler actor's thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from raysha.runtime.jobs import RunningJob

#: how long a batch that wants a decision waits for an earlier one before going on without it
GAP_TIMEOUT_S = 30.0
#: how long a job's last batch (returned with the job) waits for earlier ones still on their way
TAIL_WAIT_S = 10.0


class ReportSequencer:
    """Orders each job's report batches before they are processed.

    >>> import asyncio
    >>> from raysha.runtime.jobs import JobTable
    >>> from raysha.schedulers.base import Job, JobKind
    >>> seen = []
    >>> seq = ReportSequencer(lambda rj, rows: seen.extend(rows) or "continue", lambda rj: "continue")
    >>> rj = JobTable().add(0, Job(JobKind.START, 0, {}, 0, 2, (2,)), 0.0)
    >>> asyncio.run(seq.report(rj, 1, [2], want=False)), seen        # early: kept until batch 0 is in
    ('continue', [])
    >>> asyncio.run(seq.report(rj, 0, [1], want=False)), seen
    ('continue', [1, 2])
    """

    def __init__(self, process: Callable[[RunningJob, list], str], answer: Callable[[RunningJob], str],
                 on_progress: Callable[[], None] = lambda: None):
        self.process = process          # hands a batch to the scheduler and the results; returns the answer
        self.answer = answer            # the answer for a job without processing anything
        self.on_progress = on_progress  # called after batches were processed (wakes the dispatch loop)

    async def report(self, rj: RunningJob, seq: int, rows: list, want: bool) -> str:
        """One batch of job `rj`; when ``want``, the answer after this batch (waiting for earlier ones)."""
        if seq == rj.next_seq:
            answer = self.process(rj, rows)
            rj.next_seq += 1
            self.drain(rj)
            return answer
        rj.pending[seq] = rows
        if not want:
            return self.answer(rj)
        fut = asyncio.get_running_loop().create_future()
        rj.waiters[seq] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), GAP_TIMEOUT_S)
        except asyncio.TimeoutError:  # an earlier batch never came: go on without it
            self.drain(rj, skip_gaps=True)
            return await fut

    def drain(self, rj: RunningJob, skip_gaps: bool = False) -> None:
        """Process the batches that are next in order (all of them with ``skip_gaps``)."""
        while rj.pending:
            if rj.next_seq not in rj.pending:
                if not skip_gaps:
                    break
                rj.next_seq = min(rj.pending)
            seq = rj.next_seq
            answer = self.process(rj, rj.pending.pop(seq))
            rj.next_seq += 1
            fut = rj.waiters.pop(seq, None)
            if fut is not None and not fut.done():
                fut.set_result(answer)
        self.on_progress()

    async def finish(self, rj: RunningJob, tail: list, tail_seq) -> None:
        """The job ended: process its last batch (``tail``, numbered ``tail_seq``) and all it left pending."""
        if tail_seq is not None:
            if tail_seq > rj.next_seq:
                # earlier batches are still on their way: give them a moment
                deadline = time.monotonic() + TAIL_WAIT_S
                while rj.next_seq < tail_seq and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
            rj.pending[tail_seq] = tail
        self.drain(rj, skip_gaps=True)
