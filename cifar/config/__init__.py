"""What a user can choose: the field table and `ModelConfig` (settings), the kinds of field
(fields) and the presets with what they measured (presets). Imports nothing but the bottom."""

__all__ = ["fields", "presets", "settings"]
