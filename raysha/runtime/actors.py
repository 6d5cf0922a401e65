"""The trial actors: making them (named ``raysha:<experiment>:worker-<N>``), telling when each is up, which are free, replacing and killing them."""

from __future__ import annotations

from typing import Any, Optional

from raysha.runtime import naming
from raysha.runtime.settings import ControllerSettings


class WorkerPool:
    """The scheduler actor's trial actors, by index; each takes jobs as soon as it is up.

    Needs a running Ray actor (the scheduler actor) to make actors; the free
    list works without one:

    >>> pool = WorkerPool(None, "epoch", ControllerSettings(n_workers=3))
    >>> pool.release(2); pool.release(0); pool.take(), pool.free
    (0, [2])
    """

    def __init__(self, trainable, resource_attr: str, settings: ControllerSettings):
        self.trainable = trainable
        self.resource_attr = resource_attr
        self.settings = settings
        self.n = settings.n_workers
        self.actors: list = []
        self.info: list[dict] = [{} for _ in range(self.n)]   # what each actor's hello() said
        self.free: list[int] = []                             # idle actors, ascending
        self.starting: set[int] = set()                       # actors not up yet
        self._run_fns: list = []

    def _make(self, idx: int):
        import ray

        from raysha.runtime.worker import TrialWorker

        s = self.settings
        me = ray.get_runtime_context().current_actor
        name = naming.actor_name(s.metadata.get("name", "experiment"), f"worker-{idx}")
        return naming.start_named(ray.remote(TrialWorker), s.worker_options, name, idx, me, self.trainable,
                                  self.resource_attr, s.shared_refs, s.checkpoint_dir, s.report_flush_interval,
                                  s.keep_live, s.max_checkpoint_bytes,
                                  s.keep_checkpoints > 0)

    def create_all(self) -> None:
        """Create every trial actor (they start in parallel; call `hello` for each)."""
        self.actors = [self._make(i) for i in range(self.n)]
        self._run_fns = [a.run.options(num_returns=2) for a in self.actors]
        self.starting = set(range(self.n))

    def replace(self, idx: int) -> None:
        """Kill actor `idx` (if it still lives) and make a new one in its place (call `hello` for it)."""
        self.kill(idx)
        self.actors[idx] = self._make(idx)
        self._run_fns[idx] = self.actors[idx].run.options(num_returns=2)
        self.starting.add(idx)

    async def hello(self, idx: int, quiet: bool = False) -> Optional[dict]:
        """Wait until actor `idx` is up: its info, or None when it did not start (or was replaced since)."""
        actor = self.actors[idx]
        try:
            info = await actor.hello.remote()
        except Exception as e:
            if not quiet:
                print(f"raysha: trial actor {idx} did not start: {type(e).__name__}: {e}", flush=True)
            info = None
        self.starting.discard(idx)
        if info is None or actor is not self.actors[idx]:
            return None
        self.info[idx] = info
        return info

    def run(self, idx: int, msg: dict) -> tuple[Any, Any]:
        """Launch a job on actor `idx`: (ref of its end info, ref of the checkpoint it returns)."""
        return self._run_fns[idx].remote(msg)

    def take(self) -> int:
        return self.free.pop(0)

    def release(self, idx: int) -> None:
        self.free.append(idx)
        self.free.sort()

    def node(self, idx: int) -> Optional[str]:
        return (self.info[idx] if 0 <= idx < len(self.info) else {}).get("node")

    def handle(self, idx: int):
        return self.actors[idx] if 0 <= idx < len(self.actors) else None

    def kill(self, idx: int) -> None:
        import ray

        try:
            ray.kill(self.actors[idx], no_restart=True)
        except Exception:
            pass

    def kill_all(self) -> None:
        for idx in range(len(self.actors)):
            self.kill(idx)
