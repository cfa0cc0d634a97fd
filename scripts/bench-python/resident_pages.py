"""Which code and data of a running binary are resident: /proc/PID/pagemap for the binary's own
mappings, each resident 4 KiB page attributed to the modules whose symbols (nm) lie in it.

usage: resident_pages.py --pid PID --binary PATH [--top 20]; prints a table and a JSON line.
Swift symbols are attributed to their module (the first identifier of the mangled name), C symbols
by prefix (BoringSSL copies, ICU, the Swift runtime, libdispatch, ...).
"""
import argparse
import bisect
import re
import struct
import subprocess

PAGE = 4096


def module_of(name):
    for prefix in ("_$s", "$s", "_$S", "$S"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            match = re.match(r"(\d+)", rest)
            if match:
                length = int(match.group(1))
                module = rest[len(match.group(1)):len(match.group(1)) + length]
                return module
            if rest.startswith("s"):
                return "Swift"
            if rest.startswith("So") or rest.startswith("SC"):
                return "C imports"
            return "Swift"
    if name.startswith("CNIOBoringSSL") or name.startswith("_CNIOBoringSSL"):
        return "BoringSSL (swift-nio-ssl)"
    if name.startswith("CCryptoBoringSSL") or name.startswith("_CCryptoBoringSSL"):
        return "BoringSSL (swift-crypto)"
    if name.startswith("_ZN5swift") or name.startswith("swift_") or name.startswith("_swift") or name.startswith("_ZL") and "swift" in name:
        return "Swift runtime (C++)"
    if "icu" in name.lower() or re.match(r"^(u|ucol|ubrk|uloc|ures|udata|ucnv|uprv|utrans|unum|udat|ucal|ustr|utf8|ucase|uset|uscript|ubidi|unorm2?|usearch|uregex|utext|uiter|ulist|umutablecptrie|ucptrie|ucurr|uenum|uhash|ulocimp|umtx|uplrules|ureldatefmt|usprep|uidna|ucsdet|utmscale|uspoof|ufmt|ugender|ulistfmt|unumsys|upluralrules|ucfpos|ufieldpositer|ubiditransform|ucasemap|ucharstrie|ucnvsel|ucol_|udatpg|uformattable|umsg|unumf|uregion|utf16|utf32|ushape|ustring|uts46)_", name):
        return "ICU (FoundationInternationalization)"
    if re.match(r"^_{0,2}k?CF", name) or name.startswith("__CF"):
        return "CoreFoundation (Foundation)"
    if "dispatch" in name:
        return "libdispatch"
    if name.startswith("c_nio") or name.startswith("CNIO"):
        return "NIO C shims"
    if name.startswith("_Z"):
        return "C++ other"
    return "C other (zlib, yaml, libc++abi, ...)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    import os
    binary = os.path.realpath(args.binary)
    mappings = []
    with open(f"/proc/{args.pid}/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and os.path.realpath(parts[5]) == binary:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                mappings.append((start, end, parts[1], int(parts[2], 16)))

    segments = []
    for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == "LOAD":
            offset, vaddr = int(fields[1], 16), int(fields[2], 16)
            filesz = int(fields[4], 16)
            segments.append((offset, vaddr, filesz))

    starts, ends, names = [], [], []
    nm = subprocess.run(["nm", "-n", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        fields = line.split()
        if len(fields) == 4:
            address, size, _kind, name = int(fields[0], 16), int(fields[1], 16), fields[2], fields[3]
            if size == 0:
                continue
            starts.append(address)
            ends.append(address + size)
            names.append(name)

    sections = []
    for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        match = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if match and int(match.group(2), 16) and int(match.group(4), 16):
            sections.append((int(match.group(2), 16), int(match.group(4), 16), match.group(1)))
    sections.sort()
    by_symbol = {".text", ".data", ".bss", ".rodata", ".data.rel.ro", ".tbss"}

    def attribute(bucket, vaddr, end):
        """Adds the module shares of [vaddr, end) to bucket (symbols, the rest named by section)."""
        covered = 0
        position = bisect.bisect_right(starts, end) - 1
        seen = 0
        while position >= 0 and seen < 4000:
            s, e = starts[position], ends[position]
            seen += 1
            if e <= vaddr:
                if s < vaddr - (1 << 20):
                    break
                position -= 1
                continue
            overlap = min(e, end) - max(s, vaddr)
            if overlap > 0:
                module = module_of(names[position])
                bucket[module] = bucket.get(module, 0) + overlap
                covered += overlap
            position -= 1
        return covered

    totals = {}
    with open(f"/proc/{args.pid}/pagemap", "rb") as pagemap:
        for start, end, perms, offset in mappings:
            kind = "text" if "x" in perms else ("data" if "w" in perms else "rodata")
            count = (end - start) // PAGE
            pagemap.seek(start // PAGE * 8)
            entries = pagemap.read(count * 8)
            for index in range(count):
                (entry,) = struct.unpack_from("<Q", entries, index * 8)
                if not (entry >> 63) & 1:
                    continue
                file_offset = offset + index * PAGE
                vaddr = None
                for seg_offset, seg_vaddr, seg_size in segments:
                    if seg_offset <= file_offset < seg_offset + max(seg_size, PAGE):
                        vaddr = file_offset - seg_offset + seg_vaddr
                        break
                bucket = totals.setdefault(kind, {})
                if vaddr is None:
                    bucket["(outside the file's segments)"] = bucket.get("(outside the file's segments)", 0) + PAGE
                    continue
                accounted = 0
                for sec_addr, sec_size, sec_name in sections:
                    lo, hi = max(sec_addr, vaddr), min(sec_addr + sec_size, vaddr + PAGE)
                    if hi <= lo:
                        continue
                    if sec_name in by_symbol:
                        part = {}
                        covered = attribute(part, lo, hi)
                        scale = min(1.0, (hi - lo) / covered) if covered else 0
                        for module, size in part.items():
                            key = module if sec_name == ".text" else f"{sec_name}: {module}"
                            bucket[key] = bucket.get(key, 0) + size * scale
                        if covered < hi - lo:
                            key = f"{sec_name}: (no symbol)"
                            bucket[key] = bucket.get(key, 0) + (hi - lo - covered)
                    else:
                        key = f"section {sec_name}"
                        bucket[key] = bucket.get(key, 0) + (hi - lo)
                    accounted += hi - lo
                if accounted < PAGE:
                    bucket["(padding between sections)"] = bucket.get("(padding between sections)", 0) + PAGE - accounted

    for kind in ("text", "rodata", "data"):
        bucket = totals.get(kind, {})
        total = sum(bucket.values())
        if not total:
            continue
        print(f"{kind} mapping: {total / 1024:.0f} kB resident")
        for module, size in sorted(bucket.items(), key=lambda item: -item[1])[: args.top]:
            print(f"  {size / 1024:8.0f} kB  {100 * size / total:5.1f}%  {module}")


if __name__ == "__main__":
    main()
