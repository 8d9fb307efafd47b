"""A class: signing in (signin), a teacher's links that set and hide controls (lessons) and the
class board (board)."""

__all__ = ["board", "lessons", "signin"]
