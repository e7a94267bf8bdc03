#!/usr/bin/env python3
"""Runs harness/record.py on two configurations of harness/record-configs.json
(a paused pc-i440fx-7.2 guest and the running xbzrle guest) into
out/record-test, then checks each recorded entry with migsim:

- the real QEMU destination loaded the stream (observed_outcome load-ok);
- `migsim inspect --validate` accepts the stream;
- the sidecar's size and sha256 are those of the decompressed stream, and its
  EOF offset is the one `migsim inspect` reports;
- the xbzrle stream carries XBZRLE pages per `migsim inspect`, and the paused
  guest's low RAM read back from the destination is all zeros (-S: the
  firmware never ran).

Skips with a message when qemu-system-x86_64 is absent.
"""

import hashlib
import json
import lzma
import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
NAMES = ["pc-i440fx-7.2_m32_paused", "pc-i440fx-7.2_m32_running_xbzrle"]


def check_entry(migsim, out, name):
    sidecar = json.load(open(os.path.join(out, name + ".json")))
    problems = []
    if sidecar["observed_outcome"] != "load-ok":
        problems.append("QEMU destination: %s" % sidecar["roundtrip_load"])
    stream = os.path.join(out, sidecar["stream"]["file"])
    data = lzma.decompress(open(stream, "rb").read())
    if len(data) != sidecar["stream"]["size"] or \
            hashlib.sha256(data).hexdigest() != sidecar["stream"]["sha256"]:
        problems.append("sidecar size/sha256 differ from the stream")
    validate = subprocess.run([migsim, "inspect", "--validate", stream], capture_output=True,
                              text=True, env=ENV, timeout=120)
    if validate.returncode != 0:
        problems.append("inspect --validate: %s" % validate.stderr.strip())
    summary = subprocess.run([migsim, "inspect", stream], capture_output=True, text=True,
                             env=ENV, timeout=120).stdout
    # record.py takes the trailer's place from migsim inspect; the bytes there must frame it.
    facts = sidecar["stream_facts"]
    eof = facts["eof_marker_offset"]
    if eof is None or data[eof:eof + 2] != b"\x00\x06" or \
            struct.unpack(">I", data[eof + 2:eof + 6])[0] != facts["vmdesc_json_len"] or \
            eof + 6 + facts["vmdesc_json_len"] != len(data):
        problems.append("trailer framing at the sidecar's EOF offset %s" % eof)
    if sidecar["capabilities"].get("xbzrle"):
        rows = re.findall(r"^  \S+\s+\d+\s+\d+\s+\d+\s+(\d+)\s+\d+$", summary, re.M)
        if sum(int(r) for r in rows) == 0:
            problems.append("no XBZRLE pages in the recorded stream")
    elif sidecar["guest_state_at_migrate"].startswith("paused"):
        zeros = hashlib.sha256(bytes(0xA0000)).hexdigest()
        if sidecar["roundtrip_load"]["guest_ram_sha256"].get("0x0-0xa0000") != zeros:
            problems.append("paused guest: low RAM on the destination is not all zeros")
    return problems


def main():
    qemu = qemu_lib.find_qemu()
    if qemu is None:
        qemu_lib.skip("record_test.py", "qemu-system-x86_64 not found (install qemu-system-x86)")
        return 0
    migsim = os.path.join(ROOT, "out/release/migsim")
    out = os.path.join(ROOT, "out/record-test")
    started = time.monotonic()
    run = subprocess.run([sys.executable, os.path.join(ROOT, "harness/record.py"), "--out", out,
                          "--only", ",".join(NAMES)], env=ENV, timeout=900)
    print("record_test: recorder exit %d in %.1f s" % (run.returncode, time.monotonic() - started))
    failed = run.returncode != 0
    for name in NAMES:
        problems = check_entry(migsim, out, name)
        print("%s %s%s" % ("FAIL" if problems else "PASS", name,
                           "".join("\n     " + p for p in problems)))
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
