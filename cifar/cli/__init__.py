"""`python -m cifar`: parsing and printing only (main, with train, runs, study and explain)."""

__all__ = ["explain", "main", "runs", "study", "train"]
