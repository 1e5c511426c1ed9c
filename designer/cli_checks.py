"""Checks of command-line values that come before any work: output paths and the seed.

A separate module (not designer.__main__): under `python -m designer` that module is `__main__`, and an
exception class defined there would not be the one designer.cli_train raises.
"""

from __future__ import annotations

from pathlib import Path


class CommandError(Exception):
    """A bad option value (an output path the command cannot write, a seed out of range): one line, exit 2."""


def output_folder(text: str, option: str = "--out") -> Path:
    """A folder to write into: made when missing; an empty path, a file or a device in its place is refused."""
    import stat

    if not text or not text.strip():
        raise CommandError(f"{option} is empty; give a folder to write into")
    path = Path(text)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"{option} {text}: cannot create the folder ({exc.strerror or exc})") from None
        return path
    except OSError as exc:
        raise CommandError(f"{option} {text}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(mode):
        kind = "a file" if stat.S_ISREG(mode) else "a device, pipe or socket"
        raise CommandError(f"{option} {text} is {kind}, not a folder; give a folder (it is made when missing)")
    return path


def output_file(text: str, option: str = "--out") -> Path:
    """A file to write: a regular file (overwritten, as other tools do) or a new one in an existing folder.
    An empty path, a folder, a device, a pipe or a socket is refused, so nothing but a file is ever written."""
    import stat

    if not text or not text.strip():
        raise CommandError(f"{option} is empty; give a file to write")
    path = Path(text)
    try:
        mode = path.stat().st_mode  # follows links: a link to /dev/sda is a device
    except FileNotFoundError:
        if path.is_symlink():
            raise CommandError(f"{option} {text} is a link to nothing; give a file path") from None
        parent = path.parent
        if not parent.is_dir():
            raise CommandError(f"{option} {text}: the folder {parent} does not exist") from None
        return path
    except OSError as exc:
        raise CommandError(f"{option} {text}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise CommandError(f"{option} {text} is a folder; give a file path")
    if not stat.S_ISREG(mode):
        raise CommandError(f"{option} {text} is a device, pipe or socket, not a regular file; give a file path")
    return path


def write_file(path: Path, data: bytes, option: str = "--out") -> None:
    """Write `data` to a checked output file; an OS refusal (permissions, a full disk) becomes one line."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise CommandError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None


def seed_value(text: str) -> int:
    """--seed: a whole number from 0 to 2**32 - 1 ("1e20", "-1" and 10**20 are refused in one line)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < 2**32:
        raise CommandError(f"--seed must be a whole number from 0 to {2**32 - 1:,}, got {text[:40]}")
    return value
