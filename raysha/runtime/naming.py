"""Names of raysha's actors in Ray (the Dashboard's actor list, `ray list actors`, `ray.get_actor`).

``raysha:<experiment>:controller`` for the scheduler actor and ``raysha:<experiment>:worker-<N>``
for trial actor N. A name still held by an actor being replaced (or by another
driver's experiment of the same name) gets a suffix: ``...:worker-1~2``.

>>> actor_name("asha-lenet", "worker-3")
'raysha:asha-lenet:worker-3'
"""

from __future__ import annotations

#: tries of suffixed names before giving up on a name (the actor then starts unnamed)
_TRIES = 20


def actor_name(experiment: str, part: str) -> str:
    return f"raysha:{experiment}:{part}"


def start_named(actor_class, options: dict, name: str, *args, **kwargs):
    """``actor_class.options(**options, name=...).remote(*args, **kwargs)``, suffixing the name while taken.

    ``actor_class`` is a Ray actor class (``ray.remote(cls)``).
    """
    for i in range(1, _TRIES + 1):
        try:
            named = actor_class.options(**options, name=name if i == 1 else f"{name}~{i}")
            return named.remote(*args, **kwargs)
        except ValueError:    # ray.exceptions.ActorAlreadyExistsError: the name is taken
            continue
    return actor_class.options(**options).remote(*args, **kwargs)
