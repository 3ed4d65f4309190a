"""The benchmark's figures as a table, each against its target."""

from __future__ import annotations

from bench.common import RELATIVE_TARGETS, TARGETS


def table(results: dict[str, float | str]) -> str:
    lines = [f"{'figure':<28} {'value':>12}  target"]
    for key, value in results.items():
        if isinstance(value, str):
            lines.append(f"{key:<28} {value:>12}")
            continue
        target = TARGETS.get(key)
        if key in RELATIVE_TARGETS and RELATIVE_TARGETS[key][0] in results:
            other, factor = RELATIVE_TARGETS[key]
            target = ("<=", factor * results[other])
        mark = ""
        if target:
            op, bound = target
            ok = value >= bound if op == ">=" else value <= bound
            mark = f"{op} {bound:g}  {'ok' if ok else 'MISSED'}"
        lines.append(f"{key:<28} {value:>12.3f}  {mark}")
    return "\n".join(lines)
