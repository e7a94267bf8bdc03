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

  record_fuzz    the selector byte (plain, 10.x commands, records only,
                 refill mode) before small QEMU 7.2 and migsim streams (the
                 stream_fuzz corpus and the inspect_fuzz files under 64 KiB).
  ram_fuzz       RAM payloads built here: the MEM_SIZE list of fuzz-small's
                 blocks, PAGE, ZERO, XBZRLE and COMPRESS_PAGE records, EOS,
                 footers, EOF; for the strict loader and for the walker.
  cmd_fuzz       command runs built here: a postcopy stream (return path,
                 PINGs, ADVISE, DISCARD, PACKAGED with LISTEN and RUN), a
                 precopy one with PINGs, RECV_BITMAP and RESUME.
  config_fuzz    configurations built here: migsim-1.0 and pc-i440fx-7.2, with
                 capabilities, target-page-bits and uuid subsections.
  multifd_fuzz   one channel each: the initial packet, packets with pages
                 (nocomp, zlib and zstd when python3-zstandard is present),
                 zero pages, SYNC packets.
  sink_fuzz      stream_fuzz streams up to 32 KiB after their "QEVM" on one
                 channel, pieces of several sizes; a stream with the return
                 path and PINGs; main + one or two multifd channels framed.
  destcheck_fuzz   a -dump-vmstate, a NUL, a stream: the hand-built stream
                 and dump of migration/mig_destcheck_test.c, and the microvm
                 corpus stream with its machine's dump cut to the VMSDs the
                 stream carries.
  stream_all_fuzz  streams migsim writes for the all-devices machine of
                 fuzz/stream_all_fuzz.c (`migsim run` over the scenario text
                 embedded there, seed 1, migrate at six times, `--stream-out`).

Seeds are named by the SHA-1 of their bytes, as libFuzzer names corpus files.
Usage: python3 harness/fuzz_seeds.py --target TARGET
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


# ------------------------------------------------------- stream builders


def be16(v):
    return struct.pack(">H", v)


def be32(v):
    return struct.pack(">I", v)


def be64(v):
    return struct.pack(">Q", v)


def counted(text):
    data = text.encode() if isinstance(text, str) else text
    return bytes([len(data)]) + data


HEADER = b"QEVM" + be32(3)
SMALL_BLOCKS = [("pc.ram", 32 * 4096), ("pc.bios", 4 * 4096)]
PAGE = 4096


def configuration(name, subsections=b""):
    data = name.encode()
    return b"\x07" + be32(len(data)) + data + subsections


def config_subsection(name, body):
    return b"\x05" + counted(name) + be32(1) + body


def start(section_id, idstr, version, instance=0):
    return b"\x01" + be32(section_id) + counted(idstr) + be32(instance) + be32(version)


def part(section_id, kind=2):
    return bytes([kind]) + be32(section_id)


def footer(section_id):
    return b"\x7e" + be32(section_id)


def command(code, payload=b""):
    return b"\x08" + be16(code) + be16(len(payload)) + payload


def mem_size(blocks):
    out = be64(sum(b for _, b in blocks) | 0x4)
    for name, size in blocks:
        out += counted(name) + be64(size)
    return out


def ram_record(address, flags, block=None, body=b""):
    named = block is not None
    word = address | flags | (0 if named else 0x20)
    return be64(word) + (counted(block) if named else b"") + body


def xbzrle(runs):
    """XBZRLE encoding: (zero run, data) pairs as ULEB128 lengths and the bytes."""
    def uleb(v):
        out = b""
        while True:
            byte = v & 0x7F
            v >>= 7
            out += bytes([byte | (0x80 if v else 0)])
            if not v:
                return out
    data = b""
    for zero, nonzero in runs:
        data += uleb(zero) + uleb(len(nonzero)) + nonzero
    return data


def testdev_section():
    """The FULL section of fuzz-small's testdev, from a migsim stream of the stream_fuzz corpus."""
    name = counted("0000:00:03.0/testdev")
    for path in sorted(glob.glob(os.path.join(ROOT, "fuzz", "corpus", "stream_fuzz", "*"))):
        data = open(path, "rb").read()
        at = data.find(name)
        if at < 5 or data[at - 5] != 4:
            continue
        section_id = data[at - 4:at]
        end = data.find(b"\x7e" + section_id, at)
        if end > 0:
            return data[at - 5:end + 5]
    return b""


def ram_pages(block, strict=False):
    """PAGE, ZERO (fill 0 and 1), XBZRLE and COMPRESS_PAGE records into block."""
    import zlib
    page = bytes((i * 7) & 0xFF for i in range(PAGE))
    out = ram_record(0, 0x8, block, page)
    out += ram_record(PAGE, 0x2, None, b"\x00")
    if strict:
        return out
    out += ram_record(2 * PAGE, 0x2, None, b"\x01")
    encoded = xbzrle([(16, b"\xaa\xbb\xcc"), (100, b"\x01")])
    out += ram_record(0, 0x40, None, b"\x01" + be16(len(encoded)) + encoded)
    packed = zlib.compress(page)
    out += ram_record(3 * PAGE, 0x100, None, be32(len(packed)) + packed)
    return out


def ram_seeds(out):
    payload_start = mem_size(SMALL_BLOCKS) + be64(0x10) + footer(0)
    end = part(0, 3) + be64(0x10) + footer(0) + testdev_section() + b"\x00"
    count = 0
    for selector in (0, 1):
        pages = part(0) + ram_pages("pc.ram", selector == 0)
        pages += ram_record(0, 0x8, "pc.bios", bytes(PAGE)) + be64(0x10) + footer(0)
        save(out, bytes([selector]) + payload_start + pages + end)
        save(out, bytes([selector]) + payload_start + end)
        count += 2
    # The first section carries pages itself, as QEMU's START may.
    save(out, b"\x01" + mem_size(SMALL_BLOCKS) + ram_pages("pc.ram") + be64(0x10) + footer(0) +
         b"\x00")
    return count + 1


def ram_start_small():
    return start(0, "ram", 4) + mem_size(SMALL_BLOCKS) + be64(0x10) + footer(0)


def cmd_seeds(out):
    advise = command(3, be64(0x1000) + be64(0x1000))
    discard = command(6, b"\x00" + counted("pc.ram") + b"\x00" + be64(0) + be64(PAGE) +
                      be64(4 * PAGE) + be64(2 * PAGE))
    device = testdev_section()
    body = command(4) + device + command(2, be32(3)) + command(5)
    packaged = command(7, be32(len(body))) + body
    pages = part(0) + ram_record(0, 0x8, "pc.ram", bytes(PAGE)) + be64(0x10) + footer(0)
    end = part(0, 3) + be64(0x10) + footer(0) + b"\x00"
    precopy_end = part(0, 3) + be64(0x10) + footer(0) + device + b"\x00"
    every = part(0)
    for name, size in SMALL_BLOCKS:
        every += ram_record(0, 0x2, name, b"\x00")
        every += b"".join(ram_record(p * PAGE, 0x2, None, b"\x00") for p in range(1, size // PAGE))
    every += be64(0x10) + footer(0)
    resent = part(0) + ram_record(0, 0x8, "pc.ram", bytes(PAGE))
    resent += ram_record(4 * PAGE, 0x8, None, bytes(PAGE))
    resent += ram_record(5 * PAGE, 0x2, None, b"\x00")
    resent += be64(0x10) + footer(0)
    postcopy = (command(1) + command(2, be32(1)) + advise + ram_start_small() + every + discard +
                command(2, be32(2)) + packaged + command(2, be32(4)) + resent + end)
    precopy = command(1) + command(2, be32(1)) + ram_start_small() + pages + precopy_end
    recovery = (ram_start_small() + command(10, counted("pc.ram")) + command(9) + pages +
                precopy_end)
    seeds = [(3, postcopy), (1, postcopy), (0, postcopy), (4, postcopy), (2, precopy),
             (0, precopy), (6, precopy), (1, recovery), (4, recovery),
             (0, command(7, be32(4)) + b"\x08\x00\x05\x00\x00")]
    for selector, data in seeds:
        save(out, bytes([selector]) + data)
    return len(seeds)


def config_seeds(out):
    caps = config_subsection("configuration/capabilities", be32(1) + counted("x-ignore-shared"))
    bits = config_subsection("configuration/target-page-bits", be32(12))
    uuid = config_subsection("configuration/uuid", bytes(range(0, 256, 17)))
    rest = start(0, "ram", 4) + mem_size([("pc.ram", 8 * PAGE)]) + be64(0x10) + footer(0) + b"\x00"
    # x-ignore-shared: each block entry carries its GPA.
    gpa = (start(0, "ram", 4) + be64(8 * PAGE | 0x4) + counted("pc.ram") + be64(8 * PAGE) +
           be64(0) + be64(0x10) + footer(0) + b"\x00")
    seeds = [(0, configuration("migsim-1.0") + rest),
             (1, configuration("pc-i440fx-7.2", bits) + rest),
             (2, configuration("migsim-1.0", caps) + gpa),
             (4, configuration("migsim-1.0", bits + uuid) + rest),
             (7, configuration("pc-i440fx-7.2", bits + caps + uuid) + gpa),
             (8, rest), (9, configuration("pc-i440fx-7.2", uuid) + rest),
             (0x10, configuration("pc-i440fx-7.2", bits + uuid) + rest)]
    for selector, data in seeds:
        save(out, bytes([selector]) + data)
    return len(seeds)


def multifd_packet(flags, block, offsets, normal, payload, number):
    header = be32(0x11223344) + be32(1) + be32(flags) + be32(128) + be32(normal)
    header += be32(len(payload)) + be64(number) + be32(len(offsets) - normal)
    header += bytes(64 - len(header))
    name = block.encode() if block else b""
    header += name + bytes(256 - len(name))
    header += b"".join(be64(o) for o in offsets) + bytes(8 * (128 - len(offsets)))
    return header + payload


def multifd_seeds(out):
    import zlib
    initial = be32(0x11223344) + be32(1) + bytes(16) + b"\x00" + bytes(39)
    pages = bytes((i * 3) & 0xFF for i in range(2 * PAGE))
    count = 0
    methods = [(0, 0x0, lambda data: data), (1, 0x2, None)]
    try:
        import zstandard  # noqa: F401
        methods.append((2, 0x4, lambda data: zstandard.ZstdCompressor().compress(data)))
    except ImportError:
        pass
    for selector, flag, pack in methods:
        if flag == 0x2:
            deflate = zlib.compressobj()
            pack = lambda data, d=deflate: d.compress(data) + d.flush(zlib.Z_SYNC_FLUSH)  # noqa
        data = initial
        data += multifd_packet(flag, "pc.ram", [0, PAGE, 5 * PAGE], 2, pack(pages), 0)
        data += multifd_packet(flag, "pc.bios", [PAGE], 1, pack(pages[:PAGE]), 1)
        data += multifd_packet(0x1, None, [], 0, b"", 2)
        save(out, bytes([selector]) + data)
        save(out, bytes([selector | 0x4]) + data)
        count += 2
    uuid_initial = be32(0x11223344) + be32(1) + bytes(range(0, 256, 17)) + b"\x00" + bytes(39)
    save(out, b"\x10" + uuid_initial + multifd_packet(0x1, None, [], 0, b"", 0))
    return count + 1


def record_seeds(out):
    sources = sorted(glob.glob(os.path.join(ROOT, "fuzz", "corpus", "stream_fuzz", "*")))
    sources += [p for p in sorted(glob.glob(os.path.join(ROOT, "fuzz", "corpus", "inspect_fuzz",
                                                        "*")))
                if os.path.getsize(p) <= 16 << 10]
    sources = [p for p in sources if os.path.getsize(p) <= 32 << 10]
    count = 0
    for index, path in enumerate(sources):
        with open(path, "rb") as f:
            data = f.read()
        selector = (0x00, 0x01, 0x04 | (index % 32) << 3, 0x05)[index % 4]
        save(out, bytes([selector]) + data)
        count += 1
    body = command(4) + command(2, be32(3)) + command(5)
    save(out, b"\x02" + command(7, be32(len(body))) + body + b"\x00")
    return count + 1


def sink_frames(channels):
    """sink_fuzz's framing: [u8 channel][u16 LE length][bytes], 4 KiB pieces in turn."""
    out, at = b"", [0] * len(channels)
    while any(at[i] < len(c) for i, c in enumerate(channels)):
        for i, data in enumerate(channels):
            piece = data[at[i]:at[i] + 4096]
            if piece:
                out += bytes([i]) + len(piece).to_bytes(2, "little") + piece
                at[i] += len(piece)
    return out


def sink_seeds(out):
    """Streams after their "QEVM" (the target sends it) on one channel, in pieces of
    several sizes; one with the return path and PINGs; framed main + multifd channels."""
    sources = [p for p in sorted(glob.glob(os.path.join(ROOT, "fuzz", "corpus", "stream_fuzz",
                                                        "*")))
               if os.path.getsize(p) <= 32 << 10]
    count = 0
    streams = []
    for index, path in enumerate(sources[:24]):
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"QEVM":
            continue
        streams.append(data[4:])
        save(out, bytes([(index % 16) << 4]) + data[4:])
        count += 1
    device = testdev_section()
    pages = part(0) + ram_record(0, 0x8, "pc.ram", bytes(PAGE)) + be64(0x10) + footer(0)
    rp = (be32(3) + configuration("migsim-1.0") + command(1) + command(2, be32(1)) +
          ram_start_small() + command(2, be32(2)) + pages + part(0, 3) + be64(0x10) +
          footer(0) + device + b"\x00")
    save(out, b"\x30" + rp)
    initial = be32(0x11223344) + be32(1) + bytes(16) + b"\x00" + bytes(39)
    page_bytes = bytes((i * 3) & 0xFF for i in range(PAGE))
    multifd = initial + multifd_packet(0, "pc.ram", [0, PAGE], 1, page_bytes, 0)
    multifd += b"".join(multifd_packet(0x1, None, [], 0, b"", 1 + n) for n in range(3))
    for main in [rp] + streams[:2]:
        save(out, b"\x01" + sink_frames([main, multifd]))
        save(out, b"\x02" + sink_frames([main, multifd, multifd]))
        count += 2
    return count + 1


DESTCHECK_STREAMS = ["microvm_m32_virtio-mmio-blk"]


def destcheck_test_seed():
    """The stream and dump of migration/mig_destcheck_test.c (dev v2, inner/x, dev/sub)."""
    def field(name, size, since=0, desc=None):
        out = {"field": name, "version_id": since, "field_exists": False, "size": size}
        if desc:
            out["Description"] = desc
        return out
    inner = {"name": "inner", "version_id": 1, "minimum_version_id": 1,
             "Fields": [field("c", 1)],
             "Subsections": [{"name": "inner/x", "version_id": 1, "minimum_version_id": 1,
                              "Fields": [field("d", 1)]}]}
    dump = {"vmschkmachine": {"Name": "pc-i440fx-7.2"},
            "dev-pci": {"Name": "dev-pci", "version_id": 2, "minimum_version_id": 1,
                        "Description": {"name": "dev", "version_id": 2, "minimum_version_id": 1,
                                        "Fields": [field("a", 4), field("late", 2, 2),
                                                   field("inner", 8, 0, inner)],
                                        "Subsections": [{"name": "dev/sub", "version_id": 1,
                                                         "minimum_version_id": 1,
                                                         "Fields": [field("b", 2)]}]}}}
    trailer = {"page_size": 4096, "devices": [{
        "name": "0000:00:02.0/dev", "instance_id": 0, "vmsd_name": "dev", "version": 2,
        "fields": [{"name": "a", "type": "uint32", "size": 4},
                   {"name": "late", "type": "uint16", "size": 2},
                   {"name": "inner", "type": "struct", "size": 15, "struct": {
                       "vmsd_name": "inner", "version": 1,
                       "fields": [{"name": "c", "type": "uint8", "size": 1}],
                       "subsections": [{"vmsd_name": "inner/x", "version": 1, "fields": [
                           {"name": "d", "type": "uint8", "size": 1}]}]}}],
        "subsections": [{"vmsd_name": "dev/sub", "version": 1,
                         "fields": [{"name": "b", "type": "uint16", "size": 2}]}]}]}
    stream = HEADER + configuration("pc-i440fx-7.2")
    stream += b"\x04" + be32(3) + counted("0000:00:02.0/dev") + be32(0) + be32(2)
    stream += be32(0x11223344) + be16(0x5566) + b"\x77"
    stream += b"\x05" + counted("inner/x") + be32(1) + b"\x88"
    stream += b"\x05" + counted("dev/sub") + be32(1) + be16(0x99aa)
    stream += footer(3) + b"\x00"
    text = json.dumps(trailer).encode()
    stream += b"\x06" + be32(len(text)) + text
    return json.dumps(dump).encode() + b"\x00" + stream


def destcheck_seeds(corpus, out):
    save(out, destcheck_test_seed())
    count = 1
    for name in DESTCHECK_STREAMS:
        sidecar = json.load(open(os.path.join(corpus, name + ".json")))
        argv = sidecar["argv_destination"]
        machine = argv[argv.index("-machine") + 1].split(",")[0]
        dump = json.load(open(os.path.join(corpus, "vmstate", machine + ".vmstate.json")))
        stream = lzma.open(os.path.join(corpus, name + ".mig.xz")).read()
        trailer = json.loads(lzma.open(os.path.join(corpus, name + ".analyze-desc.json.xz")).read())
        wanted = {d.get("vmsd_name") for d in trailer["devices"]}
        cut = {k: v for k, v in dump.items()
               if k == "vmschkmachine" or v.get("Description", {}).get("name") in wanted}
        save(out, json.dumps(cut).encode() + b"\x00" + stream)
        count += 1
    return count


def stream_all_seeds(migsim, out):
    """Streams of the scenario embedded in fuzz/stream_all_fuzz.c, migrated at six times.

    The target's destination runs at seed 1 (a vfiodev's data depends on the
    seed), so every seed is a seed-1 run; the migrate command moves instead.
    """
    import re
    import tempfile
    source = open(os.path.join(ROOT, "fuzz", "stream_all_fuzz.c")).read()
    block = source[source.index("FUZZ_ALL_SCENARIO_BEGIN"):source.index("FUZZ_ALL_SCENARIO_END")]
    text = "".join(re.findall(r'^\s*"(.*)";?\s*$', block, re.M)).encode().decode("unicode_escape")
    env = {"PATH": "/usr/bin:/bin"}
    count = 0
    with tempfile.TemporaryDirectory(prefix="migsim-seeds-") as work:
        for at_ms in (1, 5, 10, 20, 30, 40):
            scenario = json.loads(text)
            scenario["commands"][-1]["at_ns"] = at_ms * 1000000
            path = os.path.join(work, "all.json")
            with open(path, "w") as f:
                json.dump(scenario, f)
            stream = os.path.join(work, "s%d.mig" % at_ms)
            subprocess.run([migsim, "run", path, "--seed", "1", "--stream-out", stream,
                            "--no-progress"], env=env, capture_output=True, check=False)
            if os.path.exists(stream):
                with open(stream, "rb") as f:
                    save(out, f.read())
                count += 1
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True,
                        choices=["scenario_fuzz", "vmdesc_fuzz", "record_fuzz", "ram_fuzz",
                                 "cmd_fuzz", "config_fuzz", "multifd_fuzz", "stream_all_fuzz",
                                 "destcheck_fuzz", "sink_fuzz"])
    parser.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus",
                                                         "qemu-7.2"))
    parser.add_argument("--out", help="default: fuzz/corpus/TARGET")
    parser.add_argument("--migsim", default=os.path.join(ROOT, "out", "release", "migsim"))
    options = parser.parse_args()
    out = options.out or os.path.join(ROOT, "fuzz", "corpus", options.target)
    builders = {"vmdesc_fuzz": lambda: vmdesc_seeds(options.corpus, out),
                 "scenario_fuzz": lambda: scenario_seeds(options.migsim, out),
                 "record_fuzz": lambda: record_seeds(out), "ram_fuzz": lambda: ram_seeds(out),
                 "cmd_fuzz": lambda: cmd_seeds(out), "config_fuzz": lambda: config_seeds(out),
                 "multifd_fuzz": lambda: multifd_seeds(out),
                 "sink_fuzz": lambda: sink_seeds(out),
                 "destcheck_fuzz": lambda: destcheck_seeds(options.corpus, out),
                 "stream_all_fuzz": lambda: stream_all_seeds(options.migsim, out)}
    count = builders[options.target]()
    print("%s: %d seeds in %s" % (options.target, count, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
