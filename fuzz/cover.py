#!/usr/bin/env python3
"""Keeps a fuzz corpus small: reads the control file of a libFuzzer merge
(`-merge=1 -merge_control_file=FILE`) and prints the N files that brought
the most new coverage edges to it.

`cargo fuzz cmin` keeps every file that adds any feature, smallest first,
which for these targets leaves hundreds of files, most adding an edge or
two. The checked-in corpus is replayed by every `cargo test`, so it keeps
the files that matter most and stays under about 200 (fuzz/README.md).
A merge records for each file only the edges no earlier file covered, so
the ranking follows the merge's own order rather than a true set cover.
"""

import sys


def new_edges(path):
    """The corpus files and how many edges each added to the merge."""
    with open(path) as control:
        lines = control.read().splitlines()
    count = int(lines[0])
    files = lines[2 : 2 + count]
    added = {}
    for line in lines[2 + count :]:
        parts = line.split()
        if parts and parts[0] == "COV":
            added[int(parts[1])] = len(parts) - 2
    return files, added


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: cover.py MERGE_CONTROL_FILE [N, default 150]")
    keep = int(sys.argv[2]) if len(sys.argv) == 3 else 150
    files, added = new_edges(sys.argv[1])
    ranked = sorted((i for i in added if added[i] > 0), key=lambda i: (-added[i], i))
    for index in sorted(ranked[:keep]):
        print(files[index])


if __name__ == "__main__":
    main()
