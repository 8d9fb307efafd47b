"""The training process, `python -m cifar.training RUN_DIR`: it waits its turn in this machine's
line (local_queue) where its launcher put it there, then fits the model (fit) while a Keras
callback records every epoch (recorder). process is its entry and its failure handling."""

__all__ = ["fit", "local_queue", "process", "recorder", "steering"]
