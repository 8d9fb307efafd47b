"""The Keras network a config describes: building it and its training pieces (build), its size
counted from the config alone (size), the machine's precision and devices (devices), and
saving and loading it (saving). Nothing here knows about runs or the pages."""

__all__ = ["build", "devices", "saving", "schedule", "size"]
