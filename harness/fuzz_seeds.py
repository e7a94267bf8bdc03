#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets whose inputs are text files.

  scenario_fuzz  every committed scenario (conformance/scenarios/*.json) and
                 the embedded default (`migsim scenario`), as they are.
  vmdesc_fuzz    for each distinct vmsd_name in the VM-description trailers of
                 ../shared/corpus/qemu-7.2 (*.analyze-desc.json.xz): a trailer
                 with that one device entry, a NUL byte, and a payload built
                 from the description (every field's "size" bytes, array_len
                 elements, subsections with their 0x05 marker, name and
                 version), so a seed decodes to the end; seeds above
                 32 KiB are left out.

Seeds are named by the SHA-1 of their bytes, as libFuzzer names corpus files.
Usage: python3 harness/fuzz_seeds.py --target scenario_fuzz|vmdesc_fuzz
       [--corpus DIR] [--out DIR] [--migsim BIN]
"""

import argparse
import glob
import hashlib
import json
import lzma
import os
import struct
import subprocess
import sys

# Larger seeds (a few devices describe thousands of fields) slow every mutation
# of the corpus to a crawl; the fuzzer grows inputs itself.
VMDESC_SEED_BYTES_MAX = 32 << 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save(folder, data):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, hashlib.sha1(data).hexdigest())
    with open(path, "wb") as f:
        f.write(data)
    return path


def value_bytes(field, fill):
    kind = field.get("type")
    if kind == "struct":
        return struct_bytes(field["struct"], fill)
    if kind == "capability":
        return b"\x03abc"
    return bytes((fill + i) & 0xFF for i in range(field.get("size", 0)))


def struct_bytes(desc, fill=0x11):
    out = b""
    for index, field in enumerate(desc.get("fields", [])):
        elements = max(1, field.get("array_len", 1))
        for element in range(elements):
            out += value_bytes(field, fill + index + element)
    for sub in desc.get("subsections", []):
        name = sub["vmsd_name"].encode()
        out += b"\x05" + bytes([len(name)]) + name + struct.pack(">I", sub.get("version", 0))
        out += struct_bytes(sub, fill + 0x40)
    return out


def vmdesc_seeds(corpus, out):
    seen = {}
    for path in sorted(glob.glob(os.path.join(corpus, "*.analyze-desc.json.xz"))):
        trailer = json.loads(lzma.open(path).read())
        entries = list(trailer.get("devices", []))
        for entry in entries:
            seen.setdefault(entry.get("vmsd_name", entry.get("name")), entry)
    count = 0
    for name in sorted(seen):
        entry = seen[name]
        text = json.dumps({"page_size": 4096, "devices": [entry]}, separators=(", ", ": "))
        seed = text.encode() + b"\x00" + struct_bytes(entry)
        if len(seed) <= VMDESC_SEED_BYTES_MAX:
            save(out, seed)
            count += 1
    return count


def scenario_seeds(migsim, out):
    count = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "conformance", "scenarios", "*.json"))):
        with open(path, "rb") as f:
            save(out, f.read())
        count += 1
    env = {"PATH": "/usr/bin:/bin"}
    text = subprocess.run([migsim, "scenario"], env=env, capture_output=True, check=True).stdout
    save(out, text)
    return count + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, choices=["scenario_fuzz", "vmdesc_fuzz"])
    parser.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus",
                                                         "qemu-7.2"))
    parser.add_argument("--out", help="default: fuzz/corpus/TARGET")
    parser.add_argument("--migsim", default=os.path.join(ROOT, "out", "release", "migsim"))
    options = parser.parse_args()
    out = options.out or os.path.join(ROOT, "fuzz", "corpus", options.target)
    if options.target == "vmdesc_fuzz":
        count = vmdesc_seeds(options.corpus, out)
    else:
        count = scenario_seeds(options.migsim, out)
    print("%s: %d seeds in %s" % (options.target, count, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
