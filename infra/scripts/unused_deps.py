#!/usr/bin/env python3
"""Unused dependencies: fails when a workspace crate declares a dependency its sources never name.

What cargo-machete does, without installing it (a ~3 minute release build on the 2-core
machine, on every clean CI machine): for each member of the root Cargo.toml's workspace, every
key of [dependencies], [dev-dependencies], [build-dependencies] (and their [target.*] forms)
must appear in one of the crate's .rs files (src/, tests/, benches/, build.rs…), comments left
out, as `name::`, `use name` or `extern crate name` (`-` read as `_`). A dependency needed without
being named (a feature switch for another crate) is listed, with a comment saying why, under

    [package.metadata.cargo-machete]
    ignored = ["name"]

which cargo-machete reads too. Exit 0 when every crate is clean, 1 otherwise.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Unused dependencies tolerated while a rewrite is in flight (none now): reported, not failed.
# Remove an entry with its dependency; an entry whose dependency is used again or gone is
# reported as stale.
PENDING: set[tuple[str, str]] = set()

DEPENDENCY_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")
LINE_COMMENT = re.compile(r"(^|\s)//.*$", re.MULTILINE)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def declared(manifest: dict) -> set[str]:
    tables = [manifest.get(t, {}) for t in DEPENDENCY_TABLES]
    for target in manifest.get("target", {}).values():
        tables += [target.get(t, {}) for t in DEPENDENCY_TABLES]
    return {name for table in tables for name in table}


def source_text(crate: Path) -> str:
    files = [p for p in crate.rglob("*.rs") if "target" not in p.relative_to(crate).parts]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(files))
    return LINE_COMMENT.sub(r"\1", BLOCK_COMMENT.sub("", text))


def named(ident: str, text: str) -> bool:
    # `name::` but not `other::name::` (axum::http is not the http crate).
    pattern = rf"(?<![\w:]){ident}::|\buse\s+{ident}\b|\bextern\s+crate\s+{ident}\b"
    return re.search(pattern, text) is not None


def main() -> int:
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    unused: dict[str, tuple[str, list[str]]] = {}
    pending_seen = set()
    for member in workspace["members"]:
        crate = ROOT / member
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        package = manifest["package"]["name"]
        ignored = set(manifest.get("package", {}).get("metadata", {}).get("cargo-machete", {}).get("ignored", []))
        text = source_text(crate)
        names = sorted(d for d in declared(manifest) - ignored if not named(d.replace("-", "_"), text))
        for name in names:
            if (package, name) in PENDING:
                pending_seen.add((package, name))
                print(f"unused dependencies: {package}: {name} is unused (pending: infra/scripts/unused_deps.py PENDING)", file=sys.stderr)
        names = [n for n in names if (package, n) not in PENDING]
        if names:
            unused[package] = (f"{member}/Cargo.toml", names)
    for package, name in sorted(PENDING - pending_seen):
        print(f"unused dependencies: {package}: {name} is no longer an unused dependency: remove it from PENDING", file=sys.stderr)
    if not unused:
        return 0
    print("unused dependencies: these crates declare dependencies their sources never name", file=sys.stderr)
    print("(as `name::`, `use name` or `extern crate name`, comments left out):", file=sys.stderr)
    for package, (path, names) in sorted(unused.items()):
        print(f"  {package} ({path}): {', '.join(names)}", file=sys.stderr)
    print(
        "Remove them from the crate's Cargo.toml. A dependency needed without being named (a feature\n"
        "switch) goes under [package.metadata.cargo-machete] ignored = [\"name\"], with a comment why.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
