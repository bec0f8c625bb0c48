#!/usr/bin/env python3
"""The layer rule of src/ (docs/HACKING.md, "Layers"), checked on every build and by the suite.

Each folder of src/ is a module; a module may include headers of the modules listed for it below and of no
other (no upward arrow, no sideways arrow that is not listed). include/p2pnode/ is the public surface: its
headers include only the standard library and each other, and only node/ and cli/ (which implement and use
it) include them. Prints one line per violation ("src/session/x.cpp:12: session -> node (not allowed)") and
exits 1; with --stamp FILE writes FILE when clean (the build's custom target); --root DIR checks another tree.
"""
import os
import re
import sys

# Lower layers first. Every module may use the modules of the layers below it that are listed.
ALLOWED = {
    "base": set(),
    "crypto": {"base"},
    "loop": {"base"},
    "net": {"base", "crypto", "loop", "proto"},
    "swarm": {"base", "crypto"},
    "proto": {"base", "crypto"},
    "maker": {"base", "crypto", "loop", "proto"},
    "storage": {"base", "crypto", "loop", "proto"},
    "http": {"base", "loop"},  # the generic HTTP/1.1 server (the tracker's HTTP port; later the RPC)
    "tracker": {"base", "crypto", "loop", "net", "proto", "http"},
    "peer": {"base", "crypto", "loop", "net", "proto", "swarm"},
    "dht": {"base", "crypto", "proto"},  # pure like proto: the node layer feeds it (no uv.h, no I/O)
    "session": {"base", "crypto", "loop", "net", "swarm", "proto", "maker", "storage", "http", "tracker", "peer"},
    "node": {"base", "crypto", "loop", "net", "swarm", "proto", "maker", "storage", "http", "tracker", "peer", "session",
             "dht", "p2pnode"},
    "cli": {"base", "crypto", "loop", "net", "swarm", "proto", "maker", "storage", "http", "tracker", "peer", "session",
            "dht", "node", "p2pnode"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if "--root" in argv:  # another tree (the suite's self-test)
        root = argv[argv.index("--root") + 1]
    stamp = argv[argv.index("--stamp") + 1] if "--stamp" in argv else None
    errors = []
    src = os.path.join(root, "src")
    for module in sorted(os.listdir(src)):
        mdir = os.path.join(src, module)
        if not os.path.isdir(mdir):
            continue
        if module not in ALLOWED:
            errors.append(f"src/{module}: a module the layer rule does not know (add it to tools/check_layers.py "
                          "and docs/HACKING.md)")
            continue
        for name in sorted(os.listdir(mdir)):
            if not name.endswith((".hpp", ".cpp", ".h", ".c")):
                continue
            with open(os.path.join(mdir, name), encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1).split("/")[0] if "/" in m.group(1) else module
                    if target == module or target in ALLOWED[module]:
                        continue
                    errors.append(f"src/{module}/{name}:{lineno}: {module} -> {target} (not allowed: "
                                  f"{module} may use {', '.join(sorted(ALLOWED[module])) or 'nothing'})")
    pub = os.path.join(root, "include", "p2pnode")
    for name in sorted(os.listdir(pub)):
        with open(os.path.join(pub, name), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if m and not m.group(1).startswith("p2pnode/"):
                    errors.append(f"include/p2pnode/{name}:{lineno}: the public API includes a private header "
                                  f"\"{m.group(1)}\"")
    for e in errors:
        print(e)
    if errors:
        return 1
    if stamp:
        with open(stamp, "w") as f:
            f.write("layers ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
