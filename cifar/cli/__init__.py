"""`python -m cifar`: parsing and printing only (main, with train, runs, study, explain and audit)."""

__all__ = ["audit", "control", "experiment", "explain", "main", "runs", "study", "train"]
