#!/usr/bin/env python3
"""The report of `bench/run.sh busy`: the splice engine with its loop's yield
on and off, beside processes that compute without sleeping.

Reads the lines run.sh collected (busy,size,contender,round,KIND,FIELDS...)
and prints Markdown: for each count of busy processes and each size, every
contender's throughput as a ratio to direct in the same round, its CPU per
GB, the round trip it added at p50 and p99, and the loops the busy processes did a second
as a ratio to the same round's direct run (the CPU they were left).
"""
import argparse
import csv
import os

from report import machine_lines, median, size_label


def read_runs(path):
    """runs[(busy, size, contender, round)] = {tput: [...], lat: [...], busy: loops/s}"""
    runs = {}
    with open(path) as source:
        for row in csv.reader(source):
            if len(row) < 6:
                continue
            key = (int(row[0]), int(row[1]), row[2], int(row[3]))
            run = runs.setdefault(key, {"busy": 0.0})
            if row[4] == "busy":
                run["busy"] += float(row[5])
            elif row[4] in ("tput", "lat"):
                run[row[4]] = [float(value) for value in row[5:]]
    return runs


def compare(runs, busy, size, contender):
    """Medians and ranges of one contender's rounds against direct's"""
    ratios, cpu, added, tail, left = [], [], [], [], []
    for (b, s, c, round_), run in runs.items():
        direct = runs.get((b, s, "direct", round_))
        if (b, s, c) != (busy, size, contender) or not direct:
            continue
        if "tput" in run and "tput" in direct and direct["tput"][0] > 0:
            ratios.append(run["tput"][0] / direct["tput"][0])
            if run["tput"][2] >= 0 and run["tput"][3] > 0:
                cpu.append(run["tput"][2] / (run["tput"][3] / 1e9))
        if "lat" in run and "lat" in direct:
            added.append(run["lat"][0] - direct["lat"][0])
            tail.append(run["lat"][1] - direct["lat"][1])
        if direct["busy"] > 0:
            left.append(run["busy"] / direct["busy"])
    return ratios, cpu, added, tail, left


def cell(values, pattern):
    if not values:
        return "-"
    text = pattern % median(values)
    if len(values) > 1:
        text += " (" + pattern % min(values) + "-" + pattern % max(values) + ")"
    return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", required=True)
    parser.add_argument("--machine", required=True)
    parser.add_argument("--notes", default="")
    args = parser.parse_args()
    runs = read_runs(args.csv)
    print("## The splice engine's yield beside processes that compute")
    print()
    for line in machine_lines(args.machine):
        print(line)
    print()
    print("Each busy process computes without sleeping for the whole round; "
          "*busy left* is the loops they did a second as a ratio to the same "
          "round's direct run, that is the CPU the proxy left them. NULL, one "
          "pair; medians of the rounds, their range in brackets.")
    print()
    print("| busy | size | contender | ratio to direct | CPU s/GB | round trip added, p50 us | p99 us | busy left |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    contenders = []
    for key in runs:
        if key[2] != "direct" and key[2] not in contenders:
            contenders.append(key[2])
    for busy, size in sorted({(key[0], key[1]) for key in runs}):
        for contender in contenders:
            ratios, cpu, added, tail, left = compare(runs, busy, size, contender)
            print("| %d | %s | %s | %s | %s | %s | %s | %s |"
                  % (busy, size_label(size), contender, cell(ratios, "%.2f"),
                     cell(cpu, "%.2f"), cell(added, "%.0f"), cell(tail, "%.0f"),
                     cell(left, "%.2f")))
    if args.notes and os.path.exists(args.notes) and os.path.getsize(args.notes):
        print()
        with open(args.notes) as notes:
            for line in notes:
                print("Note: " + line.rstrip("\n").split(",", 1)[-1])


if __name__ == "__main__":
    main()
