#!/usr/bin/env python3
"""Benchmarks `migsim bench load|validate` against QEMU 7.2's own load of the same stream.

Makes (or reuses) two streams in --work, as the corpus README describes:

  random-2g.mig   a pc-i440fx-7.2 guest whose 2 GiB of RAM is a file of random
                  bytes (memory-backend-file, share=off), saved with
                  max-bandwidth 1 TiB/s through `migrate exec:cat > FILE`;
  zero-16g.mig    a 16 GiB guest stopped before it ran (-S), all zero pages.

With --qemu-load-only it only times QEMU's load of each stream, as a whole
process that a migsim command can be paired against (docs/performance.md).
Otherwise, for each stream: QEMU's load time (the same command line plus
`-incoming exec:cat FILE`, from start until query-migrate says completed),
`migsim bench load STREAM` and `migsim bench validate STREAM`.  It prints the
tools' own output and the ratio QEMU seconds / migsim load seconds.  Children
run with a scrubbed environment (PATH only).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def qmp_open(path, timeout_seconds=30.0):
    deadline = time.monotonic() + timeout_seconds
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    stream = sock.makefile("rw")
    stream.readline()
    qmp(stream, "qmp_capabilities")
    return sock, stream


def qmp(stream, name, **arguments):
    message = {"execute": name}
    if arguments:
        message["arguments"] = arguments
    stream.write(json.dumps(message) + "\n")
    stream.flush()
    while True:
        reply = json.loads(stream.readline())
        if "event" in reply:
            continue
        if "error" in reply:
            raise RuntimeError(f"{name}: {reply['error']}")
        return reply.get("return")


def wait_completed(stream, timeout_seconds=600.0):
    started = time.monotonic()
    while time.monotonic() - started < timeout_seconds:
        status = (qmp(stream, "query-migrate") or {}).get("status")
        if status == "completed":
            return
        if status == "failed":
            raise RuntimeError("migration failed")
        time.sleep(0.005)
    raise RuntimeError("timeout")


def guest_argv(qemu, kind, work):
    argv = [qemu, "-machine", "pc-i440fx-7.2", "-display", "none", "-nodefaults", "-S"]
    if kind == "random-2g":
        argv += ["-m", "2048", "-object",
                 f"memory-backend-file,id=ram0,size=2G,mem-path={work}/rand-2g.bin,share=off",
                 "-machine", "memory-backend=ram0"]
    else:
        argv += ["-m", "16G"]
    return argv


def run_qemu(argv, sock_path, body):
    if os.path.exists(sock_path):
        os.unlink(sock_path)  # a stale socket would accept nothing
    child = subprocess.Popen(argv + ["-qmp", f"unix:{sock_path},server=on,wait=off"], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock, stream = qmp_open(sock_path)
        result = body(stream)
        qmp(stream, "quit")
        sock.close()
        child.wait(timeout=60)
        return result
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def make_stream(qemu, kind, work):
    target = os.path.join(work, kind + ".mig")
    if os.path.exists(target):
        return target
    if kind == "random-2g" and not os.path.exists(os.path.join(work, "rand-2g.bin")):
        with open("/dev/urandom", "rb") as source, \
                open(os.path.join(work, "rand-2g.bin"), "wb") as out:
            for _ in range(2048):
                out.write(source.read(1 << 20))

    def save(stream):
        qmp(stream, "migrate-set-parameters", **{"max-bandwidth": 1 << 40})
        qmp(stream, "migrate", uri=f"exec:cat > {target}")
        wait_completed(stream)

    run_qemu(guest_argv(qemu, kind, work), os.path.join(work, "save.qmp"), save)
    return target


def timed_qemu_load(qemu, kind, work, stream_path):
    """Seconds from QEMU's start until query-migrate reports completed."""
    argv = guest_argv(qemu, kind, work) + ["-incoming", f"exec:cat {stream_path}"]
    marks = {}

    def body(stream):
        wait_completed(stream)
        marks["done"] = time.monotonic()

    marks["start"] = time.monotonic()
    run_qemu(argv, os.path.join(work, "load.qmp"), body)
    return marks["done"] - marks["start"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migsim", default="out/release/migsim")
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--work", default="/tmp/migsim-bench")
    parser.add_argument("--streams", default="random-2g,zero-16g")
    parser.add_argument("--qemu-load-only", action="store_true",
                        help="make the streams if need be, then only time QEMU's load of each "
                             "(a whole process to pair against a migsim command)")
    args = parser.parse_args()
    if args.qemu_load_only:
        os.makedirs(args.work, exist_ok=True)
        for kind in args.streams.split(","):
            stream_path = make_stream(args.qemu, kind, args.work)
            seconds = timed_qemu_load(args.qemu, kind, args.work, stream_path)
            print(f"{kind}: QEMU 7.2 load {seconds:.3f} s")
        return 0
    if shutil.which(args.qemu) is None or not os.access(args.migsim, os.X_OK):
        print(f"skipped: need {args.qemu} and {args.migsim}")
        return 2
    os.makedirs(args.work, exist_ok=True)
    for kind in args.streams.split(","):
        stream_path = make_stream(args.qemu, kind, args.work)
        size = os.path.getsize(stream_path)
        qemu_seconds = timed_qemu_load(args.qemu, kind, args.work, stream_path)
        print(f"== {kind}: {size} bytes; QEMU 7.2 load (start to completed) {qemu_seconds:.3f} s")
        outputs = {}
        for mode in ("load", "validate"):
            result = subprocess.run([args.migsim, "bench", mode, stream_path], env=ENV,
                                    capture_output=True, text=True, check=True)
            outputs[mode] = result.stdout
            print(result.stdout, end="")
        seconds = float(re.search(r"seconds\s+([0-9.]+)", outputs["load"]).group(1))
        print(f"   QEMU load / migsim load = {qemu_seconds / seconds:.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
