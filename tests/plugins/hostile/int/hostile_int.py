"""Its entry point names ``ANSWER``, an int, instead of the module with the hooks."""

ANSWER = 42
