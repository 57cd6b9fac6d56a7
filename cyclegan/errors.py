"""One exception type for mistakes a person can fix, so UI and CLI show the message, not a traceback."""


class UserInputError(ValueError):
    """Bad input from the user: a file, a checkpoint, a setting. The message says what to do."""
