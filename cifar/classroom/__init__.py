"""A class: signing in (signin, with its signed tokens and its slowing of wrong tries), a
teacher's links that set and hide controls (lessons) and the class board (board)."""

__all__ = ["board", "experiments", "lessons", "signin", "throttle", "tokens"]
