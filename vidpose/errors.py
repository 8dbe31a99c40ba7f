"""The project's own error type. Every error vidpose raises on bad input (a file, a config, an
option, a checkpoint) derives from ``VidposeError`` and says which file or option is wrong and
what to do; the ``vidpose`` command prints it as one line and exits with status 2. Each keeps
its older base (``ValueError``, ``OSError``), so existing ``except`` clauses still hold."""


class VidposeError(Exception):
    """Bad input that vidpose recognised and explained."""


class CheckpointError(VidposeError, ValueError):
    """A checkpoint file that cannot be used: missing, not a vidpose checkpoint, truncated, or of
    another model; names the file."""


class TrainingInterrupted(VidposeError, KeyboardInterrupt):
    """Training stopped by the user (Ctrl-C) after writing a resumable checkpoint."""


class ConfigError(VidposeError, ValueError):
    """A config file or override that cannot be used; names the file or key."""
