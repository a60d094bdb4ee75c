#!/usr/bin/python3
"""Offline edits of a STOPPED 389-DS instance's dse.ldif (scripts/ds389-start).

  ds389_dse.py FILE [--replace OLD NEW]... [--set DN ATTR VALUE]...
                    [--delete-attr DN ATTR]...

--replace   plain string replacement over the whole file (paths)
--set       replace all values of ATTR in the entry DN by VALUE (added if
            missing); the entry must exist
--delete-attr  remove ATTR from the entry DN

Continuation lines are unfolded first; the file is written back unfolded
(ns-slapd reads long lines fine), atomically, keeping mode and owner.
"""

import os
import sys


def norm_dn(dn):
    return ",".join(p.strip() for p in dn.split(",")).lower()


def unfold(text):
    out = []
    for line in text.split("\n"):
        if line.startswith(" ") and out:
            out[-1] += line[1:]
        else:
            out.append(line)
    return out


def split_entries(lines):
    entries, cur = [], []
    for line in lines:
        if line == "":
            if cur:
                entries.append(cur)
                cur = []
        else:
            cur.append(line)
    if cur:
        entries.append(cur)
    return entries


def entry_dn(entry):
    for line in entry:
        if line.lower().startswith("dn:"):
            if line.lower().startswith("dn::"):
                import base64
                return base64.b64decode(line[4:].strip()).decode("utf-8")
            return line[3:].strip()
    return None


def attr_of(line):
    i = line.find(":")
    return line[:i].lower() if i > 0 else None


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1]
    ops = []
    i = 2
    while i < len(argv):
        op = argv[i]
        if op == "--replace" and i + 2 < len(argv):
            ops.append(("replace", argv[i + 1], argv[i + 2]))
            i += 3
        elif op == "--set" and i + 3 < len(argv):
            ops.append(("set", argv[i + 1], argv[i + 2], argv[i + 3]))
            i += 4
        elif op == "--delete-attr" and i + 2 < len(argv):
            ops.append(("delete", argv[i + 1], argv[i + 2]))
            i += 3
        else:
            print("ds389_dse.py: bad arguments near %r" % op, file=sys.stderr)
            return 2

    with open(path, encoding="utf-8") as f:
        lines = unfold(f.read())
    for op in ops:
        if op[0] == "replace":
            lines = [ln.replace(op[1], op[2]) for ln in lines]
    entries = split_entries(lines)
    index = {}
    for e in entries:
        dn = entry_dn(e)
        if dn is not None:
            index[norm_dn(dn)] = e
    for op in ops:
        if op[0] not in ("set", "delete"):
            continue
        e = index.get(norm_dn(op[1]))
        if e is None:
            print("ds389_dse.py: no entry %r in %s" % (op[1], path), file=sys.stderr)
            return 1
        attr = op[2].lower()
        keep = [ln for ln in e if attr_of(ln) != attr]
        if op[0] == "set":
            keep.append("%s: %s" % (op[2], op[3]))
        e[:] = keep
    out = "\n\n".join("\n".join(e) for e in entries) + "\n\n"

    st = os.stat(path)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(out)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
