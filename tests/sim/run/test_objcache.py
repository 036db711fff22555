"""Verilator's run-time objects compiled once per cache (``objcache``), with a real
compiler on a two-file stand-in for Verilator's include folder."""

import os
import shlex
import subprocess
import time

import pytest

from rooftile.sim.run import objcache


@pytest.fixture
def sources(tmp_path):
    include = tmp_path / "include"
    include.mkdir()
    (include / "runtime.h").write_text("#define ANSWER 42\n")
    (include / "runtime.cpp").write_text('#include "runtime.h"\nint answer() { return ANSWER; }\n')
    (tmp_path / "user.cpp").write_text("int user() { return 7; }\n")
    return include


def compile_with(folder, include, source, target):
    """What make runs: $(OBJCACHE) c++ -c -o TARGET SOURCE."""
    assignment = objcache.make_variable(folder)
    assert assignment.startswith("OBJCACHE=")
    command = shlex.split(assignment.removeprefix("OBJCACHE="))
    command += ["c++", "-O1", "-c", "-o", str(target), str(source)]
    subprocess.run(command, check=True,
                   env={**os.environ, "VERILATOR_ROOT": str(include.parent)})
    return target.read_bytes()


def test_a_runtime_object_is_compiled_once_and_served_after(tmp_path, sources):
    folder = tmp_path / "objects"
    first = compile_with(folder, sources, sources / "runtime.cpp", tmp_path / "a.o")
    (stored,) = folder.glob("runtime-*.o")
    assert stored.read_bytes() == first
    stored.write_bytes(first + b"marker")       # what is served is the stored object...
    (folder / f"{stored.stem}.sha256").write_text(objcache._digest(stored))
    assert compile_with(folder, sources, sources / "runtime.cpp", tmp_path / "b.o") == \
        first + b"marker"
    # ...for the same header; an edited header is another object.
    (sources / "runtime.h").write_text("#define ANSWER 43\n")
    compile_with(folder, sources, sources / "runtime.cpp", tmp_path / "c.o")
    assert len(list(folder.glob("runtime-*.o"))) == 2


def test_a_corrupted_object_is_compiled_again(tmp_path, sources):
    folder = tmp_path / "objects"
    good = compile_with(folder, sources, sources / "runtime.cpp", tmp_path / "a.o")
    (stored,) = folder.glob("runtime-*.o")
    stored.write_bytes(good[:100])                # truncated: no longer its checksum
    # What a compile killed while publishing leaves, and one publishing right now.
    killed, writing = folder / ".runtime-killed.o", folder / ".runtime-writing.o"
    killed.write_bytes(b"half")
    writing.write_bytes(b"half")
    old = time.time() - objcache.STALE_S - 1
    os.utime(killed, (old, old))
    assert compile_with(folder, sources, sources / "runtime.cpp", tmp_path / "b.o") == good
    assert stored.read_bytes() == good
    assert not killed.exists() and writing.exists()


def test_other_sources_and_an_unwritable_folder_compile_as_given(tmp_path, sources):
    folder = tmp_path / "objects"
    compile_with(folder, sources, tmp_path / "user.cpp", tmp_path / "user.o")
    assert not folder.exists()                    # a design's own file is not kept
    folder.write_text("")                         # not a folder: nothing can be kept
    assert compile_with(folder, sources, sources / "runtime.cpp", tmp_path / "a.o")
    assert folder.read_text() == ""
