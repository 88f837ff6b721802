#!/usr/bin/env python3
"""Turns the raw lines of bench/run.sh into the report: a markdown table on
stdout (also results/latest.md), results/latest.csv, results/scale.csv,
results/core.csv and the chart results/throughput_ratio.png.

Each figure is the median of the rounds. A contender's ratio to direct is
the median of its ratios to the direct figure of the same round (each
round runs every contender once), with their range. Standard library
only."""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys

CONTENDERS = ["direct", "streamq", "splice", "splice-noyield", "broker", "haproxy",
              "haproxy-splice", "socat"]
NAMES = {
    "direct": "direct",
    "streamq": "StreamQ-Proxy, stream engine",
    "splice": "StreamQ-Proxy, splice engine",
    "splice-noyield": "StreamQ-Proxy, splice engine, --yield-below 0",
    "broker": "zmq_proxy broker",
    "haproxy": "HAProxy (TCP)",
    "haproxy-splice": "HAProxy (TCP, splice)",
    "socat": "socat",
}
#  Those bench/run.sh also runs under SCHED_BATCH, when named NAME-batch
BATCHED = ["splice", "splice-noyield", "streamq", "haproxy", "haproxy-splice"]
CONTENDERS += [name + "-batch" for name in BATCHED]
NAMES.update({name + "-batch": NAMES[name] + ", SCHED_BATCH" for name in BATCHED})
#  The proxy's engines, as the scale runs and the stalled reader name them
ENGINES = ["stream", "splice"]
STALL_FIELDS = ["base_rtps", "stall_rtps", "rate_ratio", "rss_base_kib", "rss_peak_kib",
                "growth_kib", "whole", "read_ms", "closed_slow"]
MECHANISMS = ["NULL", "CURVE"]
#  The splice engine's throughput targets: mechanism, pairs, size, the
#  ratio to direct it must reach, and whether it must also reach HAProxy's
RATIO_GOALS = [("NULL", 1, 65536, 0.65, True), ("NULL", 1, 1 << 20, 0.60, True),
               ("NULL", 1, 1024, 0.95, False), ("NULL", 1, 64, 0.90, False),
               ("CURVE", 1, 1024, 0.85, False), ("NULL", 100, 1024, 0.90, False)]


def size_label(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return "%d MiB" % (size >> 20)
    if size >= 1024 and size % 1024 == 0:
        return "%d KiB" % (size >> 10)
    return "%d B" % size


def median(values):
    return statistics.median(values) if values else None


def read_raw(path):
    """cells[(contender, mech, pairs, size)] = {lat: [...], tput: [...], ...};
    scale[engine] = {figure: value}; stall[engine] = {figure: value}"""
    cells, scale, stall = {}, {}, {}
    with open(path) as raw:
        for line in raw:
            fields = line.strip().split(",")
            if fields[0].startswith("scale") and len(fields) == 3:
                engine = fields[0][len("scale-"):] if fields[0] != "scale" else "stream"
                scale.setdefault(engine, {})[fields[1]] = float(fields[2])
                continue
            if fields[0] == "stall" and len(fields) == 2 + len(STALL_FIELDS):
                stall.setdefault(fields[1], []).append(
                    dict(zip(STALL_FIELDS, map(float, fields[2:]))))
                continue
            if len(fields) < 5 or fields[0] not in CONTENDERS:
                continue
            key = (fields[0], fields[1], int(fields[2]), int(fields[3]))
            cell = cells.setdefault(key, {"lat": [], "tput": [], "mem": [], "fail": []})
            kind, values = fields[4], fields[5:]
            #  lat: ROUND, p50, p99; tput: ROUND, msg/s, MB/s, CPU s,
            #  bytes and, since the client measures itself, its CPU s
            if kind == "lat":
                cell["lat"].append((int(values[0]), float(values[1]), float(values[2])))
            elif kind == "tput":
                numbers = [float(v) for v in values[1:6]]
                cell["tput"].append((int(values[0]), *numbers, *([-1.0] * (5 - len(numbers)))))
            elif kind == "mem":
                cell["mem"].append(float(values[0]))
            elif kind == "fail":
                cell["fail"].append(values[0])
    return cells, scale, {engine: stall_summary(runs) for engine, runs in stall.items()}


def stall_summary(runs):
    """One engine's stalled-reader runs as one: the run with the median
    neighbour's ratio, with the largest growth and peak of them all, whole
    only if every run's message was, and the ratios' range"""
    ordered = sorted(runs, key=lambda run: run["rate_ratio"])
    summary = dict(ordered[(len(ordered) - 1) // 2])
    summary["growth_kib"] = max(run["growth_kib"] for run in runs)
    summary["rss_peak_kib"] = max(run["rss_peak_kib"] for run in runs)
    summary["whole"] = min(run["whole"] for run in runs)
    summary["closed_slow"] = max(run["closed_slow"] for run in runs)
    summary["runs"] = len(runs)
    summary["ratio_min"] = ordered[0]["rate_ratio"]
    summary["ratio_max"] = ordered[-1]["rate_ratio"]
    return summary


def summarise(cell, endpoints):
    """Medians of one cell, or None when it failed. CPU per GB is the
    watched process's; with endpoints (the direct cell, whose worker is
    watched) the client's is added: the endpoints' cost per byte."""
    if cell["fail"] or not cell["tput"] or not cell["lat"]:
        return None
    per_gb = [(cpu + (own if endpoints else 0)) / (size_bytes / 1e9)
              for (_, _, _, cpu, size_bytes, own) in cell["tput"]
              if cpu >= 0 and size_bytes > 0 and (own >= 0 or not endpoints)]
    return {
        "runs": len(cell["tput"]),
        "msgs": median([t[1] for t in cell["tput"]]),
        "mbps": median([t[2] for t in cell["tput"]]),
        "p50": median([l[1] for l in cell["lat"]]),
        "p99": median([l[2] for l in cell["lat"]]),
        "cpu_gb": median(per_gb),
        "rss_kib": max(cell["mem"]) if cell["mem"] and not endpoints else None,
    }


def by_round(figures, column):
    """{round: figure} of a cell's lat or tput lines"""
    return {line[0]: line[column] for line in figures}


def paired(mine, direct, combine):
    """combine(mine, direct) for each round both have: the median and the
    range, or (None, None, None)"""
    values = [combine(mine[r], direct[r]) for r in sorted(mine) if r in direct]
    if not values:
        return None, None, None
    return median(values), min(values), max(values)


def build_rows(cells):
    """One row per cell, with its ratios to direct of the same mech/pairs/size,
    round by round"""
    rows = []
    keys = sorted({(m, p, s) for (_, m, p, s) in cells},
                  key=lambda k: (MECHANISMS.index(k[0]), k[1], k[2]))
    for mech, pairs, size in keys:
        direct_cell = cells.get(("direct", mech, pairs, size))
        direct = summarise(direct_cell, True) if direct_cell else None
        for contender in CONTENDERS:
            cell = cells.get((contender, mech, pairs, size))
            if cell is None:
                continue
            stats = summarise(cell, contender == "direct")
            row = {"mech": mech, "pairs": pairs, "size": size, "contender": contender,
                   "stats": stats, "ratio": None, "ratio_min": None, "ratio_max": None,
                   "lat_ratio": None, "added": None}
            if stats and direct:
                row["ratio"], row["ratio_min"], row["ratio_max"] = paired(
                    by_round(cell["tput"], 1), by_round(direct_cell["tput"], 1),
                    lambda mine, theirs: mine / theirs)
                mine, theirs = by_round(cell["lat"], 1), by_round(direct_cell["lat"], 1)
                row["lat_ratio"] = paired(mine, theirs, lambda a, b: a / b)[0]
                row["added"] = paired(mine, theirs, lambda a, b: a - b)[0]
            rows.append(row)
    return rows


def fmt(value, pattern="%.0f", missing="-"):
    return missing if value is None else pattern % value


def matrix_markdown(rows):
    out = []
    groups = sorted({(r["mech"], r["pairs"]) for r in rows},
                    key=lambda k: (MECHANISMS.index(k[0]), k[1]))
    for mech, pairs in groups:
        out.append("\n### %s, %d pair%s\n" % (mech, pairs, "" if pairs == 1 else "s"))
        out.append("| size | contender | msg/s | MB/s | x direct | range | p50 us | p99 us "
                   "| p50 x direct | CPU s/GB | peak RSS MiB |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            if (row["mech"], row["pairs"]) != (mech, pairs):
                continue
            stats = row["stats"]
            label = size_label(row["size"])
            name = NAMES[row["contender"]]
            if stats is None:
                out.append("| %s | %s | failed | | | | | | | | |" % (label, name))
                continue
            spread = "-" if row["contender"] == "direct" or row["ratio_min"] is None else \
                "%.2f-%.2f" % (row["ratio_min"], row["ratio_max"])
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, name, fmt(stats["msgs"]), fmt(stats["mbps"], "%.1f"),
                fmt(row["ratio"], "%.2f"), spread, fmt(stats["p50"], "%.1f"),
                fmt(stats["p99"], "%.1f"), fmt(row["lat_ratio"], "%.2f"),
                fmt(stats["cpu_gb"], "%.2f"),
                fmt(stats["rss_kib"] / 1024 if stats["rss_kib"] else None, "%.1f")))
    return out


def find(rows, contender, mech, pairs, size):
    for row in rows:
        if (row["contender"], row["mech"], row["pairs"], row["size"]) == \
                (contender, mech, pairs, size):
            return row
    return None


def targets(rows, scale, stall):
    """(target, figure text, PASS/MISS/n.a.) for each goal of the proxy"""
    results = []

    def plural(pairs):
        return "%d pair%s" % (pairs, "" if pairs == 1 else "s")

    def ratio(contender, mech, pairs, size):
        row = find(rows, contender, mech, pairs, size)
        return row["ratio"] if row else None

    def stat(contender, mech, pairs, size, name):
        row = find(rows, contender, mech, pairs, size)
        return row[name] if row and name in row else \
            (row["stats"][name] if row and row["stats"] else None)

    #  The splice engine
    for mech, pairs, size, goal, beside_haproxy in RATIO_GOALS:
        value = ratio("splice", mech, pairs, size)
        for other in ("haproxy", "haproxy-splice") if beside_haproxy else ():
            theirs = ratio(other, mech, pairs, size)
            results.append(("splice: throughput ratio, %s, %s, %s >= %s's (%s)"
                            % (mech, plural(pairs), size_label(size), NAMES[other],
                               fmt(theirs, "%.2f", "n/a")),
                            fmt(value, "%.2f", "n/a"),
                            verdict(value, theirs, True) if theirs is not None else "n/a"))
        results.append(("splice: throughput ratio, %s, %s, %s >= %.2f"
                        % (mech, plural(pairs), size_label(size), goal),
                        fmt(value, "%.2f", "n/a"), verdict(value, goal, True)))
    for size, goal in ((64, 30), (1024, 45)):
        value = stat("splice", "NULL", 1, size, "added")
        results.append(("splice: round trip added, p50, NULL, 1 pair, %s <= %d us"
                        % (size_label(size), goal),
                        fmt(value, "%.1f us", "n/a"), verdict(value, goal, False)))
    for size in (65536, 1 << 20):
        value = stat("splice", "NULL", 1, size, "cpu_gb")
        results.append(("splice: proxy CPU per GB, NULL, 1 pair, %s <= 0.35 s" % size_label(size),
                        fmt(value, "%.2f s", "n/a"), verdict(value, 0.35, False)))
    splice_scale = scale.get("splice", {})
    value = splice_scale.get("rss_per_conn_kib")
    results.append(("splice: proxy RSS per idle connection <= 8 KiB (at %d connections)"
                    % int(2 * splice_scale.get("pairs", 0)),
                    fmt(value, "%.1f KiB", "n/a"), verdict(value, 8, False)))
    cell = stall.get("splice")
    results.append(("splice: a worker reads nothing for 3 s while its client sends "
                     "32 MiB: the message arrives whole",
                     "yes" if cell and cell["whole"] else ("no" if cell else "n/a"),
                     "n/a" if not cell else ("PASS" if cell["whole"] else "MISS")))
    value = cell["growth_kib"] / 1024 if cell else None
    results.append(("splice: ... the proxy grows by < 16 MiB",
                    fmt(value, "%.1f MiB", "n/a"),
                    "n/a" if value is None else ("PASS" if value < 16 else "MISS")))
    value = cell["rate_ratio"] if cell else None
    results.append(("splice: ... a neighbouring pair keeps >= 0.90 of its round-trip rate",
                    fmt(value, "%.2f", "n/a"), verdict(value, 0.90, True)))
    #  The stream engine, against its own earlier goals
    for mech, pairs, goal in (("CURVE", 1, 0.85), ("NULL", 1, 0.75), ("CURVE", 100, 0.85)):
        value = ratio("streamq", mech, pairs, 1024)
        results.append(("stream: throughput ratio, %s, %s, 1 KiB >= %.2f"
                        % (mech, plural(pairs), goal),
                        fmt(value, "%.2f", "n/a"), verdict(value, goal, True)))
    for pairs in (1, 100):
        value = stat("streamq", "NULL", pairs, 65536, "cpu_gb")
        results.append(("stream: proxy CPU per GB, NULL, 64 KiB, %s <= 0.8 s" % plural(pairs),
                        fmt(value, "%.2f s", "n/a"), verdict(value, 0.8, False)))
    for mech in MECHANISMS:
        value = stat("streamq", mech, 1, 64, "added")
        results.append(("stream: round trip added, p50, %s, 64 B, 1 pair <= 60 us" % mech,
                        fmt(value, "%.1f us", "n/a"), verdict(value, 60, False)))
    stream_scale = scale.get("stream", {})
    value = stream_scale.get("rss_per_conn_kib")
    results.append(("stream: proxy RSS per idle connection <= 32 KiB (at %d connections)"
                    % int(2 * stream_scale.get("pairs", 0)),
                    fmt(value, "%.1f KiB", "n/a"), verdict(value, 32, False)))
    return results


def budget_markdown(rows):
    """What each throughput target leaves the proxy to spend, on this machine.
    While client and worker keep the CPUs busy, a contender that uses p CPU
    seconds per GB leaves them at most e / (e + p) of direct's rate, e being
    their own cost per GB in the direct cell: a ratio goal g needs
    p <= e (1 / g - 1)."""
    lines = ["\n### The CPU each throughput target leaves a proxy\n",
             "While the client and the worker keep the CPUs busy, a contender that uses "
             "p CPU seconds per GB carried leaves them at most e / (e + p) of their direct "
             "rate, e being their own CPU per GB in the direct cell (client and worker "
             "together). A ratio target g therefore needs p <= e (1/g - 1) on this "
             "machine.\n",
             "| target | endpoints' CPU s/GB (direct) | budget s/GB | splice engine s/GB "
             "| HAProxy (TCP) s/GB | HAProxy (TCP, splice) s/GB |",
             "|---|---:|---:|---:|---:|---:|"]

    def cpu(contender, mech, pairs, size):
        row = find(rows, contender, mech, pairs, size)
        return row["stats"]["cpu_gb"] if row and row["stats"] else None

    for mech, pairs, size, goal, _ in RATIO_GOALS:
        endpoints = cpu("direct", mech, pairs, size)
        budget = endpoints * (1 / goal - 1) if endpoints is not None else None
        lines.append("| %s, %d pair%s, %s >= %.2f | %s | %s | %s | %s | %s |" % (
            mech, pairs, "" if pairs == 1 else "s", size_label(size), goal,
            fmt(endpoints, "%.2f"), fmt(budget, "%.2f"),
            fmt(cpu("splice", mech, pairs, size), "%.2f"),
            fmt(cpu("haproxy", mech, pairs, size), "%.2f"),
            fmt(cpu("haproxy-splice", mech, pairs, size), "%.2f")))
    return lines


def verdict(value, goal, at_least):
    if value is None:
        return "n/a"
    return "PASS" if (value >= goal if at_least else value <= goal) else "MISS"


def scale_markdown(scale, engine):
    if not scale:
        return []
    if scale.get("failed"):
        return ["\n### Scale (%s engine)\n" % engine,
                "The scale run failed (see the messages above)."]
    pairs = int(scale.get("pairs", 0))
    lines = [
        "\n### Scale (%s engine): %d idle pairs (%d connections), then the pairing rate\n"
        % (engine, pairs, 2 * pairs),
        "| figure | value |", "|---|---:|",
        "| time to establish every pair | %.2f s |" % scale.get("establish_s", 0),
        "| of which: worker slots dialled and idle | %.2f s |" % scale.get("workers_idle_s", 0),
        "| of which: clients dialled and paired | %.2f s |" % scale.get("clients_paired_s", 0),
        "| connections established per second | %.0f |" % scale.get("connections_per_s", 0),
        "| connections the proxy never greeted (dialled again) | %d |" % scale.get("redials", 0),
        "| proxy RSS at start | %.1f MiB |" % (scale.get("rss_start_kib", 0) / 1024),
        "| proxy RSS with every pair | %.1f MiB |" % (scale.get("rss_pairs_kib", 0) / 1024),
        "| proxy RSS per connection | %.1f KiB |" % scale.get("rss_per_conn_kib", 0),
        "| proxy CPU while idle (%.0f s) | %.3f s (%.2f %% of a core) |"
        % (scale.get("idle_s", 0), scale.get("idle_cpu_s", 0), scale.get("idle_cpu_pct", 0)),
        "| closing every connection | %.2f s |" % scale.get("teardown_s", 0),
        "| pairing rate (%d clients and %d worker slots re-dialling) | %.0f pairs/s |"
        % (scale.get("churn_slots", 0), scale.get("churn_slots", 0),
           scale.get("pairing_rate", 0)),
        "| proxy CPU per pairing | %.1f us |" % scale.get("cpu_us_per_pairing", 0),
        "| connections the proxy never greeted during that (dialled again) | %d |"
        % scale.get("churn_redials", 0),
        "| unexpected closes | %d |" % scale.get("failures", 0),
    ]
    return lines


def stall_markdown(stall):
    if not stall:
        return []
    lines = ["\n### A worker that reads nothing for 3 s while its client sends 32 MiB\n",
             "A neighbouring pair (1 KiB, one request in flight) beside it; the proxy's "
             "default options. Each engine ran it `runs` times, the engines taking turns: "
             "the figures are those of the run with the median ratio, except the peak "
             "and growth (the largest of any run), whether the message arrived whole "
             "(in every run) and the slow-peer closes (the most).\n",
             "| engine | runs | neighbour rt/s before | rt/s during | ratio | range "
             "| proxy RSS before MiB | peak MiB | grew by MiB | message whole | read in ms "
             "| slow-peer closes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for engine in ENGINES:
        cell = stall.get(engine)
        if not cell:
            continue
        lines.append("| %s | %d | %.0f | %.0f | %.2f | %.2f-%.2f | %.1f | %.1f | %.1f | %s "
                     "| %.0f | %.0f |" % (
            engine, cell["runs"], cell["base_rtps"], cell["stall_rtps"], cell["rate_ratio"],
            cell["ratio_min"], cell["ratio_max"],
            cell["rss_base_kib"] / 1024, cell["rss_peak_kib"] / 1024,
            cell["growth_kib"] / 1024, "yes" if cell["whole"] else "no",
            cell["read_ms"], cell["closed_slow"]))
    return lines


def core_markdown(path):
    if not path or not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    lines = ["\n### The core alone (no I/O)\n",
             "| connections | workers | lookups/s | ns/lookup | pairings/s | ns/pairing "
             "| cycles/s | ns/loop turn |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    with open(path) as data:
        for row in csv.DictReader(data):
            lines.append("| %s | %s | %.0f | %.1f | %.0f | %.1f | %.0f | %.1f |" % (
                row["connections"], row["workers"], float(row["lookups_per_s"]),
                float(row["lookup_ns"]), float(row["pairings_per_s"]),
                float(row["pairing_ns"]), float(row["cycles_per_s"]), float(row["turn_ns"])))
    return lines


def write_csv(rows, path):
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["mechanism", "pairs", "size", "contender", "runs", "msgs_per_s",
                         "mb_per_s", "tput_ratio", "tput_ratio_min", "tput_ratio_max",
                         "lat_p50_us", "lat_p99_us",
                         "lat_p50_ratio", "lat_added_p50_us", "cpu_s_per_gb",
                         "peak_rss_kib", "status"])
        for row in rows:
            s = row["stats"] or {}
            writer.writerow([row["mech"], row["pairs"], row["size"], row["contender"],
                             s.get("runs", 0), fmt(s.get("msgs"), "%.1f", ""),
                             fmt(s.get("mbps"), "%.3f", ""), fmt(row["ratio"], "%.4f", ""),
                             fmt(row["ratio_min"], "%.4f", ""), fmt(row["ratio_max"], "%.4f", ""),
                             fmt(s.get("p50"), "%.2f", ""), fmt(s.get("p99"), "%.2f", ""),
                             fmt(row["lat_ratio"], "%.4f", ""), fmt(row["added"], "%.2f", ""),
                             fmt(s.get("cpu_gb"), "%.4f", ""), fmt(s.get("rss_kib"), "%.0f", ""),
                             "ok" if row["stats"] else "failed"])


def write_chart(rows, results):
    """A 2x2 grid (NULL/CURVE x 1/100 pairs) of throughput ratio by size"""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot not installed: no chart"
    sizes = sorted({r["size"] for r in rows})
    others = [c for c in CONTENDERS[1:] if any(r["contender"] == c for r in rows)]
    data_path = os.path.join(results, "throughput_ratio.dat")
    panels = []
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    #  Room above the highest line (and above 1) for the key
    ymax = max([1.0] + ratios) + 0.6
    with open(data_path, "w") as data:
        for mech in MECHANISMS:
            for pairs in sorted({r["pairs"] for r in rows}):
                panels.append((mech, pairs))
                data.write("# %s %d\n" % (mech, pairs))
                for index, size in enumerate(sizes):
                    values = []
                    for contender in others:
                        row = find(rows, contender, mech, pairs, size)
                        values.append(fmt(row["ratio"] if row else None, "%.4f", "?"))
                    data.write("%d \"%s\" %s\n" % (index, size_label(size), " ".join(values)))
                data.write("\n\n")
    script = [
        "set terminal pngcairo size 1400,1000 font 'Sans,11' noenhanced",
        "set output 'throughput_ratio.png'",
        "set datafile missing '?'",
        "set multiplot layout 2,%d title 'Throughput as a fraction of direct "
        "(echo, messages/s; higher is better)' font 'Sans,14'" % (len(panels) // 2),
        "set yrange [0:%.1f]" % ymax, "set grid ytics",
        "set xrange [-0.3:%f]" % (len(sizes) - 0.7),
        "set key top center horizontal maxrows 3 width -2",
        "set ylabel 'ratio to direct'", "set xlabel 'message size'",
    ]
    styles = ["lw 3 pt 7 ps 1.5 lc rgb '#ff7f0e'", "lw 3 pt 7 ps 1.5 lc rgb '#d62728'",
              "lw 2 pt 5 lc rgb '#1f77b4'", "lw 2 pt 9 lc rgb '#2ca02c'",
              "lw 2 pt 9 dt 3 lc rgb '#2ca02c'", "lw 2 pt 11 lc rgb '#9467bd'"]
    for block, (mech, pairs) in enumerate(panels):
        script.append("set title '%s, %d pair%s'" % (mech, pairs, "" if pairs == 1 else "s"))
        plots = ["1 with lines dt 2 lw 2 lc rgb 'black' title 'direct = 1'"]
        for column, contender in enumerate(others):
            plots.append("'throughput_ratio.dat' index %d using 1:%d:xtic(2) "
                         "with linespoints %s title '%s'"
                         % (block, column + 3, styles[column % len(styles)],
                            NAMES[contender]))
        script.append("plot " + ", \\\n     ".join(plots))
    script.append("unset multiplot")
    script_path = os.path.join(results, "throughput_ratio.gp")
    with open(script_path, "w") as out:
        out.write("\n".join(script) + "\n")
    #  Run where the files are, so the script names them without a path
    done = subprocess.run([gnuplot, "throughput_ratio.gp"], cwd=results,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return "gnuplot failed: " + done.stderr.strip()[-300:]
    return None


def machine_lines(path):
    info = {}
    if os.path.exists(path):
        with open(path) as source:
            for line in source:
                if "=" in line:
                    key, value = line.rstrip("\n").split("=", 1)
                    info[key] = value
    lines = ["Measured %s (%s run) on %s CPU%s (%s), Linux %s, libzmq %s, %s"
             % (info.get("date", "?"), info.get("mode", "?"), info.get("nproc", "?"),
                "" if info.get("nproc") == "1" else "s", info.get("cpu", "?"),
                info.get("kernel", "?"), info.get("libzmq", "?"), info.get("proxy", "?"))]
    extra = []
    if info.get("haproxy"):
        extra.append("HAProxy " + info["haproxy"])
    if info.get("socat"):
        extra.append("socat " + info["socat"])
    if info.get("runs"):
        extra.append("median of %s round(s), %s ms latency and %s ms throughput intervals"
                     % (info["runs"], info.get("lat_ms"), info.get("tput_ms")))
    if info.get("load_start"):
        extra.append("load average %s before, %s after"
                     % (info["load_start"], info.get("load_end", "?")))
    if extra:
        lines[0] += "; " + "; ".join(extra) + "."
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True)
    parser.add_argument("--raw", required=True)
    parser.add_argument("--machine", required=True)
    parser.add_argument("--notes", default="")
    parser.add_argument("--core", default="")
    parser.add_argument("--results", required=True)
    args = parser.parse_args()

    cells, scale, stall = read_raw(args.raw)
    rows = build_rows(cells)
    out = ["## StreamQ-Proxy benchmark", ""] + machine_lines(args.machine)
    if args.notes and os.path.exists(args.notes):
        with open(args.notes) as notes:
            out += ["", *["Note: " + n.split(",", 1)[1].strip() for n in notes if "," in n]]
    if rows or stall:
        out += ["\n### Targets\n", "| target | figure | verdict |", "|---|---:|---|"]
        out += ["| %s | %s | %s |" % t for t in targets(rows, scale, stall)
                if rows or t[0].startswith("splice: a worker") or t[0].startswith("splice: ...")]
    if rows:
        out += matrix_markdown(rows)
        out += ["", "x direct: the median over the rounds of the ratio to direct's figure "
                "of the same round; range: the lowest and highest of those ratios. "
                "CPU s/GB of direct: the client's and the worker's together."]
        out += budget_markdown(rows)
        write_csv(rows, os.path.join(args.results, "latest.csv"))
        problem = write_chart(rows, args.results)
        if problem:
            out += ["", "Note: " + problem]
    for engine in ENGINES:
        out += scale_markdown(scale.get(engine), engine)
    out += stall_markdown(stall)
    if scale:
        with open(os.path.join(args.results, "scale.csv"), "w") as data:
            data.write("engine,figure,value\n")
            for engine in ENGINES:
                data.writelines("%s,%s,%g\n" % (engine, key, value)
                                for key, value in sorted(scale.get(engine, {}).items()))
    if stall:
        with open(os.path.join(args.results, "stall.csv"), "w") as data:
            data.write("engine," + ",".join(STALL_FIELDS) + "\n")
            for engine in ENGINES:
                if engine in stall:
                    data.write(engine + "," + ",".join("%g" % stall[engine][f]
                                                       for f in STALL_FIELDS) + "\n")
    out += core_markdown(args.core)
    if args.core and os.path.exists(args.core) and os.path.getsize(args.core):
        shutil.copyfile(args.core, os.path.join(args.results, "core.csv"))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    name = "latest.md" if rows else "%s.md" % args.mode
    with open(os.path.join(args.results, name), "w") as report:
        report.write(text)
    failed = [r for r in rows if r["stats"] is None] or \
        any(scale.get(engine, {}).get("failed") for engine in ENGINES)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
