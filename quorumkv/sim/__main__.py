"""``python -m quorumkv.sim --seed N``: replay one simulated run with its trace."""

from __future__ import annotations

import argparse
import sys

from .run import simulate


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m quorumkv.sim")
    ap.add_argument("--seed", type=int, default=None, help="Replay this seed.")
    ap.add_argument("--seeds", type=int, default=1, help="Run seeds 0..N-1 (no trace).")
    ap.add_argument("--no-faults", action="store_true")
    args = ap.parse_args()
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    failed = 0
    for seed in seeds:
        result = simulate(seed, faults=not args.no_faults, trace=args.seed is not None)
        for line in result.trace:
            print(line)
        status = "ok" if result.ok else "FAILED"
        print(f"seed {seed}: {status}, {len(result.ops)} operations, "
              f"{sum(1 for o in result.ops if o.ok)} acknowledged")
        for v in result.violations:
            print(f"  violation: {v}")
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
