#!/usr/bin/env python3
"""Records one QEMU 7.2 stream with a `block` live section (block migration).

The source is a paused pc-i440fx-7.2 guest (32 MiB) with an 8 MiB raw disk on
virtio-blk (`-drive if=none,id=drive0`): 1 MiB chunks 1 and 5 hold a text
pattern, chunk 7 holds one non-zero sector, the rest is zero.  Capabilities
block=true and zero-blocks=true, so the stream carries data blocks (1 MiB
each) and ZERO_BLOCK records.  The destination gets a blank disk of the same
size, loads the stream with `-incoming exec:cat FILE`, and the script checks
that its disk equals the source's.  Output: NAME.mig.xz and NAME.json (the
corpus sidecar schema of record.py) in --out.  Exits 2 without a QEMU.
"""

import argparse
import datetime
import hashlib
import json
import lzma
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402
import record  # noqa: E402

NAME = "pc-i440fx-7.2_m32_block-migration"
DISK_BYTES = 8 << 20
CHUNK = 1 << 20


def write_disk(path, pattern):
    with open(path, "wb") as handle:
        handle.truncate(DISK_BYTES)
        if not pattern:
            return
        for chunk in (1, 5):
            handle.seek(chunk * CHUNK)
            line = b"migsim block chunk %d " % chunk
            handle.write((line * (CHUNK // len(line) + 1))[:CHUNK])
        handle.seek(7 * CHUNK + 512 * 3)
        handle.write(bytes(range(256)) * 2)


def argv(binary, disk, incoming=None):
    out = [binary, "-machine", "pc-i440fx-7.2", "-m", "32", "-smp", "1", "-display", "none",
           "-nodefaults", "-drive", "file=%s,format=raw,if=none,id=drive0" % disk,
           "-device", "virtio-blk-pci,drive=drive0", "-S"]
    if incoming:
        out += ["-incoming", incoming]
    return out


def sha256_file(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qemu", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    binary = qemu_lib.find_qemu(args.qemu)
    if binary is None:
        print("skipped: no qemu-system-x86_64")
        return 2
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    source_disk = os.path.join(args.out, "block-source-8m.raw")
    dest_disk = os.path.join(args.out, "block-dest-8m.raw")
    write_disk(source_disk, True)
    write_disk(dest_disk, False)
    stream_path = os.path.join(args.out, NAME + ".mig")
    if os.path.exists(stream_path):
        os.unlink(stream_path)
    caps = {"block": True, "zero-blocks": True}
    source = qemu_lib.Qemu(argv(binary, source_disk), args.out, NAME + ".source")
    result = {}
    try:
        record.set_caps(source.qmp, caps)
        source.qmp.command("migrate", uri="exec:cat > " + stream_path)
        info = source.wait_migration(120)
        result = {"status": info.get("status"), "query_migrate": info}
    finally:
        result["exitcode"] = source.stop()
        result["stderr"] = source.stderr_text(remove=True)
    with open(stream_path, "rb") as handle:
        data = handle.read()
    dest = qemu_lib.Qemu(argv(binary, dest_disk, "exec:cat " + stream_path), args.out,
                         NAME + ".destination")
    load = {"mode": "cmdline"}
    try:
        info = dest.wait_migration(120)
        load["verdict"] = "accepted" if info.get("status") == "completed" else "rejected"
        load["query_migrate"] = {"status": info.get("status")}
    finally:
        load["exitcode"] = dest.stop()
        load["stderr"] = dest.stderr_text(remove=True)
    load["disk_sha256"] = sha256_file(dest_disk)
    load["disk_matches_source"] = load["disk_sha256"] == sha256_file(source_disk)
    packed = lzma.compress(data, preset=9)
    with open(stream_path + ".xz", "wb") as handle:
        handle.write(packed)
    os.unlink(stream_path)
    sidecar = {
        "schema": "qemu-corpus-sidecar/1", "name": NAME, "set": "block",
        "qemu": {"binary": binary, "version": qemu_lib.qemu_version(binary)},
        "machine": "pc-i440fx-7.2", "machine_opts": None, "memory_mb": 32, "smp": 1,
        "nodefaults": True, "devices": ["virtio-blk-pci,drive=drive0"],
        "argv_source": argv(os.path.basename(binary), "{W}/block-source-8m.raw"),
        "argv_destination": argv(os.path.basename(binary), "{W}/block-dest-8m.raw", "<uri>"),
        "placeholders": {"{W}": "directory holding the generated resources listed under "
                                "'resources'"},
        "guest_state_at_migrate": "paused from start (-S, prelaunch)",
        "capabilities": caps, "parameters": {}, "parameter_changes_during_migration": None,
        "pre_migrate_qmp": [], "destination_capabilities": {},
        "migration_uri": "exec:cat > <stream>",
        "resources": {
            "block-source": {"path": "{W}/block-source-8m.raw", "size": DISK_BYTES,
                             "kind": "raw disk", "sha256": sha256_file(source_disk),
                             "generator": "harness/record_block.py write_disk"},
            "block-dest": {"path": "{W}/block-dest-8m.raw", "size": DISK_BYTES,
                           "kind": "blank raw disk", "generator": "truncate"}},
        "expected_outcome": "load-ok",
        "notes": "block migration: 8 MiB raw disk drive0, chunks 1 and 5 patterned, one "
                 "non-zero sector run in chunk 7, the rest zero (ZERO_BLOCK records)",
        "source_result": result,
        "stream": {"file": NAME + ".mig.xz", "compression": "xz", "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(), "xz_size": len(packed)},
        "stream_facts": record.stream_facts(data), "roundtrip_load": load,
        "observed_outcome": "load-ok" if load["verdict"] == "accepted" else "load-failed",
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "generation_seconds": round(time.monotonic() - started, 2),
    }
    with open(os.path.join(args.out, NAME + ".json"), "w") as handle:
        json.dump(sidecar, handle, indent=2)
        handle.write("\n")
    os.unlink(source_disk)
    os.unlink(dest_disk)
    print("%s: %d bytes (%d xz), %s, disk matches: %s" % (
        NAME, len(data), len(packed), sidecar["observed_outcome"], load["disk_matches_source"]))
    return 0 if load["disk_matches_source"] else 1


if __name__ == "__main__":
    sys.exit(main())
