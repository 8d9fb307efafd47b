"""Acting on runs: launch, continue, stop and delete them (launcher), through a backend
(backend: the protocol; local_backend and ray_backend: the backends; backends: which one); how long a
config takes (estimate), where each live run stands (waits) and a class's limits (rules)."""

__all__ = ["backend", "backends", "estimate", "launcher", "local_backend", "ray_backend", "rules", "steer", "waits"]
