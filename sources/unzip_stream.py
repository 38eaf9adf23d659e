"""Inflate one member of a zip archive into one or several pipes (a CHILD process of sources/sirene_read.py).

    python sources/unzip_stream.py <zip> <member>                                    # the member to stdout
    python sources/unzip_stream.py <zip> <member> --marker M --block B <fd> [<fd>…]  # split into several pipes

Why a child: decompression (one deflate stream, the floor of any zip read) then overlaps DuckDB's CSV parsing on
the other core. Why several pipes: DuckDB parses a pipe on ONE thread, and parsing costs twice what inflating does;
with the CSV split into blocks dealt in turn to two pipes, two DuckDB readers parse in parallel.

Split mode. The header line goes to every pipe. The records follow in blocks of about B bytes, block k going to
pipe k mod n, each block preceded by a marker record `M:k` (M in the first field, the other fields empty; the parent
draws M at random, so no data row can look like it), and every pipe ends with a marker record `M:end:N`, N being
the number of blocks. B = 0 never cuts: one block (what one reader gets). The parent
numbers each pipe's rows, and the markers tell which block (so which lines of the file) each row comes from.
A block is cut only at a newline outside any quoted field: the count of `"` from the start of the CSV is even there
(RFC 4180 escapes a quote by doubling it, so the parity of that count is the quoting state). A damaged file whose
quotes are unbalanced may mislead this test: a cut inside a quoted field makes DuckDB swallow the next marker of
that pipe into the field, and the parent, finding a marker missing or swallowed, says so (with one reader,
`ESS_SIRENE_LECTEURS=1`, the file is not cut).

Memory stays bounded whatever the member's size: one writer thread per pipe takes blocks from a queue of at most
QUEUE_CHUNKS chunks (≈ 1 MiB each). The inflater is ISA-L (`isal`, 3× faster than zlib) when installed, else zlib;
the CRC and the size of the member are checked at the end either way. Standard library (plus optional isal) only:
the parent runs this file by path.

Exit codes (the message goes to stderr, the parent turns it into an InputFileError):
  0 the whole member was written and its CRC checked;
  2 the archive cannot be opened or has no such member, or bad arguments;
  3 the member is corrupt or truncated (bad deflate data, CRC or size mismatch, unexpected end);
  4 a reader closed its pipe before the end (the parent stopped reading; not a data problem).
"""

from __future__ import annotations

import csv
import fcntl
import os
import queue
import struct
import sys
import threading
import zipfile
import zlib

try:  # ISA-L's inflate: same deflate streams, a third of zlib's time
    from isal import isal_zlib as inflater
except ImportError:  # pragma: no cover — isal is a pinned dependency; zlib is the fallback
    inflater = zlib

READ_BYTES = 1 << 18  # compressed bytes per read (≈ 1 MiB once inflated)
QUEUE_CHUNKS = 16  # per pipe: ≈ 16 MiB of inflated data waiting for its reader at most
PIPE_BYTES = 1 << 20  # a larger pipe buffer: fewer wake-ups of reader and writer
EXIT_OK, EXIT_OPEN, EXIT_CORRUPT, EXIT_PIPE = 0, 2, 3, 4
_DONE = object()
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


class Corrupt(Exception):
    pass


def inflate(path: str, info: zipfile.ZipInfo):
    """Yield the member's bytes in chunks, checking its CRC and size at the end (Corrupt otherwise)."""
    if info.flag_bits & 0x1:
        raise Corrupt("the member is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Corrupt(f"compression method {info.compress_type} is not deflate")
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(_LOCAL_HEADER.size)
        if len(local) < _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
            raise Corrupt("bad local file header")
        fields = _LOCAL_HEADER.unpack(local)
        f.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
        d = inflater.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        left, crc, size = info.compress_size, 0, 0
        while left:
            data = f.read(min(READ_BYTES, left))
            if not data:
                raise Corrupt(f"unexpected end of file ({left} compressed bytes missing)")
            left -= len(data)
            out = d.decompress(data) if d is not None else data
            if out:
                crc, size = inflater.crc32(out, crc), size + len(out)
                yield out
        if d is not None:
            out = d.flush()
            if out:
                crc, size = inflater.crc32(out, crc), size + len(out)
                yield out
            if not d.eof:
                raise Corrupt("the deflate stream ends early")
    if crc != info.CRC or size != info.file_size:
        raise Corrupt(f"CRC or size mismatch ({size} bytes inflated, {info.file_size} expected)")


class _Writer(threading.Thread):
    """Writes the chunks of its queue to one pipe; after a broken pipe it discards them (never blocks the feeder)."""

    def __init__(self, fd: int, broken: threading.Event) -> None:
        super().__init__(daemon=True)
        self.fd, self.broken, self.chunks = fd, broken, queue.Queue(maxsize=QUEUE_CHUNKS)

    def run(self) -> None:
        try:
            while (chunk := self.chunks.get()) is not _DONE:
                if self.broken.is_set():
                    continue
                try:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(self.fd, view):]
                except (BrokenPipeError, OSError):
                    self.broken.set()
        finally:
            os.close(self.fd)


def split(chunks, fds: list[int], marker: str | None, block: int, broken: threading.Event) -> None:
    """Deal the CSV of `chunks` to the pipes `fds` (see the module docstring); marker None: one pipe, as is."""
    writers = [_Writer(fd, broken) for fd in fds]
    for w in writers:
        w.start()
    try:
        if marker is None:
            for chunk in chunks:
                writers[0].chunks.put(chunk)
                if broken.is_set():
                    return
            return
        _deal(chunks, writers, marker, block, broken)
    finally:
        for w in writers:
            w.chunks.put(_DONE)
        for w in writers:
            w.join()


def _deal(chunks, writers, marker: str, block: int, broken: threading.Event) -> None:
    pending = b""
    header = None
    for chunk in chunks:  # the header line first (it has no quoted newline)
        pending += chunk
        end = pending.find(b"\n")
        if end >= 0:
            header, first = pending[:end + 1], pending[end + 1:]
            break
    if header is None:  # no newline at all: a header alone
        header, first = pending + b"\n", b""
    newline = b"\r\n" if header.endswith(b"\r\n") else b"\n"
    columns = len(next(csv.reader([header.decode("utf-8-sig", "replace")]), [""]))

    def sentinel(k) -> bytes:
        return f"{marker}:{k}".encode() + b"," * (columns - 1) + newline

    for w in writers:
        w.chunks.put(header)
    k, parity, size = 0, 0, 0  # current block, parity of the quotes so far, bytes in the current block
    writers[0].chunks.put(sentinel(0))

    def stream():
        if first:
            yield first
        yield from chunks

    last = header
    for chunk in stream():
        if broken.is_set():
            return
        last, view, start = chunk, memoryview(chunk), 0
        # Cut wherever the current block is full, at the first newline outside quotes from there on.
        while block and size + len(chunk) - start >= block:
            pos = chunk.find(b"\n", start + max(block - size, 1) - 1)
            quotes = 0
            while pos >= 0:
                quotes = chunk.count(b'"', start, pos)
                if (parity + quotes) % 2 == 0:
                    break  # outside any quoted field: a record ends here
                pos = chunk.find(b"\n", pos + 1)
            if pos < 0:
                break  # the record goes on in the next chunk
            writers[k % len(writers)].chunks.put(view[start:pos + 1])
            parity = (parity + quotes) % 2
            k, start, size = k + 1, pos + 1, 0
            writers[k % len(writers)].chunks.put(sentinel(k))
        # the rest of the chunk belongs to the current block
        if start < len(chunk):
            parity = (parity + chunk.count(b'"', start)) % 2
            size += len(chunk) - start
            writers[k % len(writers)].chunks.put(view[start:] if start else chunk)
    if not bytes(last[-1:]) == b"\n":  # a last record without its newline: end it before the marker
        writers[k % len(writers)].chunks.put(newline)
    for w in writers:
        w.chunks.put(sentinel(f"end:{k + 1}"))  # with the count of blocks: a lost marker cannot go unnoticed


def stream(zip_path: str, member: str, fds: list[int], marker: str | None = None, block: int = 1 << 21) -> int:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            info = archive.getinfo(member)
    except (OSError, zipfile.BadZipFile) as exc:
        sys.stderr.write(f"cannot open {zip_path} as a zip archive ({exc}); the file may be truncated: download it again\n")
        return EXIT_OPEN
    except KeyError:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
        sys.stderr.write(f"{zip_path} has no member {member!r}; it holds {names}\n")
        return EXIT_OPEN
    for fd in fds:
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (OSError, AttributeError):
            pass  # not a pipe, or a smaller limit: the default buffer works too
    broken = threading.Event()
    try:
        split(inflate(zip_path, info), fds, marker, block, broken)
    except (Corrupt, zlib.error, EOFError, OSError, ValueError) as exc:
        sys.stderr.write(f"{zip_path}: member {member!r} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                         "download the file again\n")
        return EXIT_CORRUPT
    except inflater.error as exc:  # isal's own error type
        sys.stderr.write(f"{zip_path}: member {member!r} is corrupt or truncated ({exc}); download the file again\n")
        return EXIT_CORRUPT
    return EXIT_PIPE if broken.is_set() else EXIT_OK


def main(argv: list[str]) -> int:
    args, marker, block = list(argv), None, 1 << 21
    try:
        if "--marker" in args:
            i = args.index("--marker")
            marker = args.pop(i + 1)
            args.pop(i)
        if "--block" in args:
            i = args.index("--block")
            block = int(args.pop(i + 1))
            args.pop(i)
        fds = [int(a) for a in args[2:]] or [1]
    except (IndexError, ValueError):
        args = []
    if len(args) < 2 or (marker is None and len(fds) != 1):
        sys.stderr.write("usage: unzip_stream.py <zip> <member> [--marker M --block BYTES <fd> [<fd> ...]]\n")
        return EXIT_OPEN
    return stream(args[0], args[1], fds, marker, block)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
