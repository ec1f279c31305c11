#!/usr/bin/env bash
# The README's main job (builtin, n = 280 by default), timed in two source trees one after the other on
# the same machine, each under cProfile with a cold feature cache, then the stage table of both.
#   bash results/benchmarks/main_job_side_by_side.sh OLD_TREE [NEW_TREE]
# OLD_TREE: a checkout of the commit to compare with (e.g. `git worktree add /tmp/old 48bc00e`);
# NEW_TREE defaults to this checkout. N=40 for a quick look. Output under $OUT (default /tmp/sbs).
set -uo pipefail
old=$(cd "$1" && pwd); new=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
M=iizuka,iizuka:data=builtin,iizuka:post=blend,patch,telea,ns,biharmonic,mean
N=${N:-280}; OUT=${OUT:-/tmp/sbs}
rm -rf "$OUT"; mkdir -p "$OUT"
cache() {  # tree dir: a cold feature cache for trees that have one (features live in the run directory since)
  grep -q -- "--cache-dir" "$1/bench/commands/run.py" && echo "--cache-dir $2"
}
run() {  # tree name args...
  local tree=$1 name=$2; shift 2
  (cd "$tree" && PYTHONPATH="$tree" python "$@" --methods $M --out "$OUT/run-$name" $(cache "$tree" "$OUT/cache-$name") \
     --no-progress > "$OUT/$name.out" 2>&1)
}
# Warm-up (numba caches, first imports), not timed.
for t in old new; do
  tree=$old; [ $t = new ] && tree=$new
  (cd "$tree" && PYTHONPATH="$tree" python -m bench.cli run --methods $M --n 2 --out "$OUT/warm-$t" \
     $(cache "$tree" "$OUT/cw-$t") --no-progress > /dev/null 2>&1)
done
for t in old new; do
  tree=$old; [ $t = new ] && tree=$new
  echo "$t ($(git -C "$tree" rev-parse --short HEAD)): load average before $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s.%N)
  run "$tree" $t -m cProfile -o "$OUT/$t.prof" -m bench.cli run --n "$N"
  end=$(date +%s.%N)
  echo "$t: $(python -c "print(round($end - $start, 1))") s wall (n = $N, cold feature cache)"
  # A rerun of the finished job: nothing computed, no feature extracted.
  start=$(date +%s.%N)
  (cd "$tree" && PYTHONPATH="$tree" python -m bench.cli run --methods $M --n "$N" --out "$OUT/run-$t" \
     $(cache "$tree" "$OUT/cache-$t") --no-progress > "$OUT/$t-rerun.out" 2>&1)
  end=$(date +%s.%N)
  echo "$t rerun of the finished job: $(python -c "print(round($end - $start, 1))") s wall"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python "$(dirname "$0")/profile_stages.py" "$OUT/old.prof" "$OUT/new.prof"
