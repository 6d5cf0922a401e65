"""The class API for trainables: the runtime owns the loop, the user owns one epoch.

A subclass implements `setup`, `train_epoch`, `state_dict` and
`load_state_dict`. The runtime calls `train_epoch(epoch)` for epoch
``start + 1 .. until`` and reports the metrics it returns (adding the resource
attribute). When the scheduler pauses the trial, the runtime takes
`state_dict()` as the checkpoint; a resumed trial is set up again and handed
that state through `load_state_dict`, unless it resumes on the same worker,
where the live object is kept and nothing is loaded.

``self.shared`` holds the objects passed as ``Tuner(shared_objects=...)``,
fetched once per worker process from Ray's object store (e.g. the decoded
Fashion-MNIST tensors), so a trial does not decode its data again.
"""

from __future__ import annotations

from typing import Any


class Trainable:
    shared: dict = {}

    def setup(self, config: dict) -> None:
        """Build the model, optimizer and data for `config`."""
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """Train one more epoch (numbered from 1) and return its metrics."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training elsewhere (a picklable dict)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Release what `setup` took (called when the trial leaves this worker)."""
