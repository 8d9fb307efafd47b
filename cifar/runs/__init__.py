"""The run folder: its file names (layout), the typed status (status), the event log (events),
the config file (config_file), who a run belongs to and who may act on it (owner), the
audit log (audit), whether its process still runs
(liveness), the one writer (writer) and the read-only `Run` (run).

Reading a run never writes and never acts; nothing here asks a backend. layout, status, events,
liveness and writer import nothing beyond the standard library at their top: the training
process imports them before it can say that a Python lacks NumPy or TensorFlow."""

__all__ = ["audit", "config_file", "control", "events", "layout", "liveness", "owner", "run", "status", "writer"]
