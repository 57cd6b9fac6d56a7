"""One exception type for mistakes a person can fix, so UI and CLI show the message, not a
traceback; and the one wording for the operating system's refusals (a full disk, a name too
long, a missing folder), which reach us as OSError or as safetensors' own SafetensorError."""
import os
import re


class UserInputError(ValueError):
    """Bad input from the user: a file, a checkpoint, a setting. The message says what to do."""


def short_name(path, keep: int = 80) -> str:
    """A path as a message shows it: whole when short, else its start and end."""
    text = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    return text if len(text) <= keep else f"{text[:keep // 2]}…{text[-(keep // 2):]}"


def os_reason(e: BaseException) -> str:
    """The operating system's words for `e`: 'No space left on device', 'File name too long'.
    safetensors words its I/O errors as Rust text (`Error while serializing: I/O error: No space
    left on device (os error 28)`, or as debug text `Os { code: 28, ..., message: "..." }`); the
    system's words inside are what a person needs."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e)
    m = re.search(r'message: "([^"]+)"', text) or re.search(r"I/O error: (.+?) \(os error \d+\)", text)
    if m:
        return m.group(1)
    return text.splitlines()[0][:200] if text.strip() else type(e).__name__


def is_disk_full(e: BaseException) -> bool:
    return (isinstance(e, OSError) and e.errno in (28, 122)) or "StorageFull" in str(e) or "No space left" in str(e)


def write_error(what: str, e: BaseException, after: str = "") -> UserInputError:
    """One line for a failed write: what could not be written, the system's reason, and, for a
    full disk, that (the caller says what was kept in `after`)."""
    hint = " (disk full?)" if is_disk_full(e) else ""
    return UserInputError(f"could not write {what}: {os_reason(e)}{hint}{'; ' + after if after else ''}")


def path_error(e: OSError, verb: str = "use") -> UserInputError:
    """One line for an OSError about a path given by the user (too long, a file where a folder
    must be, no permission)."""
    name = e.filename if e.filename is not None else ""
    where = f" '{short_name(name)}'" if name != "" else ""
    return UserInputError(f"cannot {verb}{where}: {os_reason(e)}")
