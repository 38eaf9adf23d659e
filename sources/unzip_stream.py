"""Stream one member of a zip archive to stdout: `python sources/unzip_stream.py <zip> <member>`.

Run as a CHILD process by sources/sirene.py so that decompression (one deflate stream, the floor of any zip read)
overlaps DuckDB's CSV parsing on the other core. A Linux pipe holds only 64 KiB, so the two would take turns; here
one thread inflates into a bounded queue (≈ 64 MiB) while the main thread writes, which restores the overlap and
keeps memory constant whatever the size of the member. Standard library only: the parent runs this file by path,
so it needs no package import and no `unzip` binary.

Exit codes (the message goes to stderr, the parent turns it into an InputFileError):
  0 the whole member was written and its CRC checked;
  2 the archive cannot be opened or has no such member;
  3 the member is corrupt or truncated (bad deflate data, CRC mismatch, unexpected end);
  4 the reader closed the pipe before the end (the parent stopped reading; not a data problem).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import zipfile
import zlib

CHUNK = 1 << 20  # 1 MiB per read
QUEUE_CHUNKS = 64  # ≈ 64 MiB of decompressed data waiting for the reader at most

EXIT_OK, EXIT_OPEN, EXIT_CORRUPT, EXIT_PIPE = 0, 2, 3, 4
_DONE = object()


def _inflate(archive: zipfile.ZipFile, member: str, out: queue.Queue, errors: list) -> None:
    try:
        with archive.open(member) as f:
            while chunk := f.read(CHUNK):
                out.put(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        out.put(_DONE)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def stream(zip_path: str, member: str, fd: int = 1) -> int:
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        sys.stderr.write(f"cannot open {zip_path} as a zip archive ({exc}); the file may be truncated: download it again\n")
        return EXIT_OPEN
    names = archive.namelist()
    if member not in names:
        sys.stderr.write(f"{zip_path} has no member {member!r}; it holds {names}\n")
        return EXIT_OPEN
    chunks: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
    errors: list[str] = []
    worker = threading.Thread(target=_inflate, args=(archive, member, chunks, errors), daemon=True)
    worker.start()
    try:
        while (chunk := chunks.get()) is not _DONE:
            _write_all(fd, chunk)
    except BrokenPipeError:
        # The reader is gone: leave at once (the worker may be blocked on a full queue; it is a daemon).
        return EXIT_PIPE
    worker.join()
    archive.close()
    if errors:
        sys.stderr.write(
            f"{zip_path}: member {member!r} is corrupt or truncated ({errors[0]}); download the file again\n"
        )
        return EXIT_CORRUPT
    return EXIT_OK


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: unzip_stream.py <zip> <member>\n")
        return EXIT_OPEN
    return stream(argv[0], argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
