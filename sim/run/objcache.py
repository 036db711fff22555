"""Verilator's run-time library compiled once per cache, not once per build.

Every simulator build links the same run-time objects (``verilated.o``,
``verilated_vpi.o``, ``verilated_threads.o``, ``verilated_dpi.o``): compiling them took
about 18 s of a 2x2 tile's 19 s C++ compile. Verilator's generated makefile puts
``$(OBJCACHE)`` before every compiler command; rooftile sets it to this script
(:func:`make_variable`), which serves a run-time object from a folder of objects keyed
by everything the compile reads (the command, the compiler's version, the source and
every header of its folder) and compiles anything else as given.

The folder is safe to share between processes: an object is published by one atomic
rename, with its checksum beside it; one that does not match its checksum is compiled
again, and the temporary files of a killed compile are deleted by a later one. When the
folder cannot be written (a read-only cache) it compiles as usual.

    python objcache.py FOLDER COMPILER ARGS... -c -o TARGET SOURCE

The run-time sources are those in ``$VERILATOR_ROOT/include``, the variable Verilator's
makefile itself compiles them from.

Standard library only: make starts it once per compile.
"""

import contextlib
import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["make_variable"]


def make_variable(folder):
    """``OBJCACHE=...`` for make's command line: run-time objects from ``folder``."""
    command = [sys.executable, __file__, str(folder)]
    return "OBJCACHE=" + " ".join(shlex.quote(part) for part in command)


def _key(command, source):
    """Hash of what compiling ``source`` with ``command`` reads (the object's own name
    aside)."""
    output = command.index("-o") + 1
    h = hashlib.sha256("\0".join(command[:output] + command[output + 1:]).encode())
    version = subprocess.run([command[0], "--version"], capture_output=True, check=False)
    h.update(version.stdout)
    for path in [source, *sorted(source.parent.glob("*.h"))]:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:24]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Seconds after which a temporary file in the folder is one a killed compile left
#: (writing one takes milliseconds).
STALE_S = 600


def _publish(obj, folder, name):
    """Copy ``obj`` into ``folder`` as ``name`` and its checksum, each by an atomic
    rename; a failure to write leaves the folder as it was. Temporary files that a
    killed compile left are deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    for temporary in folder.glob(".*"):
        with contextlib.suppress(OSError):
            if time.time() - temporary.stat().st_mtime > STALE_S:
                temporary.unlink()
    for suffix, data in ((".o", obj.read_bytes()), (".sha256", _digest(obj).encode())):
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}", suffix=suffix)
        os.fchmod(handle, 0o644)                  # as readable as the builds
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, folder / f"{name}{suffix}")


def main(argv):
    folder, *command = argv
    source = Path(command[-1])
    include = Path(os.environ.get("VERILATOR_ROOT", "/nonexistent"), "include")
    cached = source.suffix == ".cpp" and source.resolve().parent == include.resolve()
    if not cached or "-o" not in command:
        os.execvp(command[0], command)
    target = Path(command[command.index("-o") + 1])
    name = f"{source.stem}-{_key(command, source)}"
    stored, checksum = Path(folder) / f"{name}.o", Path(folder) / f"{name}.sha256"
    try:
        if stored.exists() and checksum.read_text() == _digest(stored):
            target.write_bytes(stored.read_bytes())
            return 0
    except OSError:
        pass                                      # compile it instead
    status = subprocess.run(command, check=False).returncode
    if status == 0:
        try:
            _publish(target, Path(folder), name)
        except OSError:
            pass                                  # a read-only cache: nothing kept
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
