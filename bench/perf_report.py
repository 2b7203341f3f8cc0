#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs tinygrad's benchmarks and writes their tables into docs/performance.md.

Every table in that page sits between a pair of markers,

    <!-- perf-report: NAME begin --> ... <!-- perf-report: NAME end -->

and this script replaces what is between them; the prose around them is
written by hand. One command regenerates the page:

    cmake --preset bench && cmake --build --preset bench --target perf-report

which runs, from the build's bench directory,

    python3 bench/perf_report.py --build build/bench/bench --doc docs/performance.md

--quick runs every benchmark for a moment only (CI does that, on a copy of
the page, so that the script cannot rot; such figures mean nothing).
Only the Python standard library is used.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys

# Each table: the benchmark program, which of its benchmarks (a regular
# expression for --benchmark_filter), and which counters become columns.
# Counters a benchmark lacks show as a dash.
TABLES = [
    {
        "name": "tape",
        "program": "tape_bench",
        "filter": "^BM_W",
        "columns": ["tinygrad/primal", "hand/primal", "ns_per_op", "bytes_per_op", "entries",
                    "ops"],
    },
    {
        "name": "tape-unchecked",
        "program": "tape_bench_unchecked",
        "filter": "^BM_W[0-9]",
        "columns": ["tinygrad/primal"],
    },
    {
        "name": "tape-native",
        "program": "tape_bench_native",
        "filter": "^BM_W[0-9]",
        "columns": ["tinygrad/primal", "hand/primal"],
    },
    {
        "name": "adolc",
        "program": "adolc_bench",
        "filter": "",
        "columns": ["adolc/tinygrad"],
    },
    {
        "name": "anomaly-detection",
        "program": "tape_bench",
        "filter": "^BM_AnomalyDetection",
        "columns": ["checked/unchecked"],
    },
    {
        "name": "functional",
        "program": "functional_bench",
        "filter": "",
        "columns": ["wrapper/by_hand", "jvp/primal", "duals_given/primal", "seeding/primal",
                    "hvp/gradient",
                    "reverse_over_forward/gradient", "reverse_over_reverse/gradient",
                    "hessian/analytic", "trace_hessian/analytic",
                    "trace_and_hessian/analytic", "sparse_hessian/analytic",
                    "sparse_hessian_ns_per_coordinate",
                    "trace_sparse_hessian_ns_per_coordinate"],
    },
    {
        "name": "trace",
        "program": "trace_bench",
        "filter": "",
        "columns": ["replay/recording", "batch/one_at_a_time",
                    "batch_compiled/one_at_a_time", "batch/recording",
                    "trace_bytes_per_op", "workspace_bytes_per_op", "ops"],
    },
    {
        "name": "training-step",
        "program": "train_bench",
        "filter": "",
        "columns": ["library/hand", "library/primal"],
    },
    {
        "name": "torch-training",
        "program": "torch_train_bench",
        "filter": "",
        "columns": ["tinygrad_us", "torch_us", "tinygrad/torch"],
    },
    {
        "name": "activation-baseline",
        "program": "activation_bench",
        "filter": "^(forward|backward)/.*/65536$",
        "columns": ["ns_per_element", "kernel/copy", "compiled/copy", "naive/kernel"],
    },
    {
        "name": "activation-x86-64-v3",
        "program": "activation_bench_x86_64_v3",
        "filter": "^(forward|backward)/.*/65536$",
        "columns": ["ns_per_element", "kernel/copy", "naive/kernel"],
    },
    {
        "name": "activation-native",
        "program": "activation_bench_native",
        "filter": "^(forward|backward)/.*/65536$",
        "columns": ["ns_per_element", "kernel/copy", "naive/kernel"],
    },
    {
        "name": "activation-latency",
        "program": "activation_bench",
        "filter": "^latency/",
        "columns": ["ns_per_call_policy"],
    },
    {
        "name": "eigen",
        "program": "activation_eigen_bench",
        "filter": "/65536$",
        "columns": ["eigen/tinygrad", "tinygrad/copy", "eigen/copy", "tinygrad_max_ulp",
                    "eigen_max_ulp"],
    },
]

# Instruction counts (callgrind), which repeat exactly on a noisy machine:
# tape_profile's workloads, with and without the misuse checks.
PROFILES = [("w1", 20), ("w2", 20), ("w3", 20), ("w4", 5), ("wrapper", 10), ("by-hand", 10)]


def run(command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def figure(value):
    """Three significant digits, or the integer for counts."""
    if value is None:
        return "—"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def benchmark_table(build, table, quick, min_time, repetitions):
    program = build / table["program"]
    if not program.exists():
        return f"(`{table['program']}` is not built here: its dependency is missing.)\n"
    command = [str(program), "--benchmark_format=json"]
    if table["filter"]:
        command.append(f"--benchmark_filter={table['filter']}")
    if quick:
        command += ["--benchmark_min_time=0.001"]
    else:
        command += [f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={repetitions}",
                    "--benchmark_report_aggregates_only=true"]
    results = json.loads(run(command).stdout)["benchmarks"]
    rows = []
    for result in results:
        if not quick and result.get("aggregate_name") != "median":
            continue
        name = result["run_name"] if "run_name" in result else result["name"]
        rows.append((name, [result.get(column) for column in table["columns"]]))
    if not rows:
        raise SystemExit(f"perf_report: {table['program']} ran no benchmark for {table['filter']}")
    lines = ["| benchmark | " + " | ".join(f"`{c}`" for c in table["columns"]) + " |",
             "|---|" + "---:|" * len(table["columns"])]
    for name, values in rows:
        lines.append(f"| `{name}` | " + " | ".join(figure(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def instruction_counts(build, quick):
    lines = ["| workload | instructions, checks on | checks compiled out | on / out |",
             "|---|---:|---:|---:|"]
    for workload, repeats in PROFILES:
        count = 1 if quick else repeats
        totals = []
        for program in ("tape_profile", "tape_profile_unchecked"):
            result = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          str(build / program), workload, str(count)])
            match = re.search(r"Collected : (\d+)", result.stderr)
            if not match:
                raise SystemExit(f"perf_report: no instruction count from callgrind:\n{result.stderr}")
            totals.append(int(match.group(1)))
        lines.append(f"| `{workload} {count}` | {totals[0]:,} | {totals[1]:,} | "
                     f"{totals[0] / totals[1]:.3f} |")
    return "\n".join(lines) + "\n"


def large_tape(build, quick):
    operations = 1_000_000 if quick else 100_000_000
    output = run([str(build / "large_tape"), str(operations)]).stdout
    return f"`large_tape {operations}`:\n\n```\n{output}```\n"


def header(build, args):
    source = pathlib.Path(__file__).resolve().parent.parent
    commit = run(["git", "rev-parse", "--short=12", "HEAD"], cwd=source).stdout.strip()
    changed = [line for line in run(["git", "status", "--porcelain"], cwd=source).stdout.splitlines()
               if not line.endswith("docs/performance.md")]
    cache = (build.parent / "CMakeCache.txt").read_text()

    def cached(variable):
        match = re.search(rf"^{variable}:[A-Z]+=(.*)$", cache, re.MULTILINE)
        return match.group(1) if match else ""

    compiler = run([cached("CMAKE_CXX_COMPILER"), "--version"]).stdout.splitlines()[0]
    build_type = cached("CMAKE_BUILD_TYPE")
    flags = cached(f"CMAKE_CXX_FLAGS_{build_type.upper()}")
    cpu = "unknown processor"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = pathlib.Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    mode = ("--quick: every benchmark ran for a moment; these figures mean nothing"
            if args.quick else
            f"medians of {args.repetitions} repetitions of at least {args.min_time} s each")
    return (f"Commit `{commit}`{' with uncommitted changes' if changed else ''}, "
            f"{datetime.date.today().isoformat()}; {cpu}, {os.cpu_count()} cores, "
            f"{int(memory) / 2**20:.0f} GiB; {compiler}; {build_type} (`{flags}`); {mode}.\n")


def replace(text, name, body):
    begin = f"<!-- perf-report: {name} begin -->\n"
    end = f"<!-- perf-report: {name} end -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"perf_report: the page has no markers for '{name}'")
    return pattern.sub(lambda _: begin + body + end, text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", required=True, type=pathlib.Path,
                        help="the directory holding the benchmark programs")
    parser.add_argument("--doc", required=True, type=pathlib.Path, help="the page to rewrite")
    parser.add_argument("--quick", action="store_true", help="a moment per benchmark (CI)")
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    build = args.build.resolve()
    text = args.doc.read_text()
    text = replace(text, "header", header(build, args))
    for table in TABLES:
        print(f"perf_report: {table['name']}", file=sys.stderr)
        text = replace(text, table["name"],
                       benchmark_table(build, table, args.quick, args.min_time, args.repetitions))
    print("perf_report: instruction counts (callgrind)", file=sys.stderr)
    text = replace(text, "instructions", instruction_counts(build, args.quick))
    print("perf_report: large tape", file=sys.stderr)
    text = replace(text, "memory", large_tape(build, args.quick))
    args.doc.write_text(text)


if __name__ == "__main__":
    main()
