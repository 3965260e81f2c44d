#!/usr/bin/env bash
# Submits a zabsim sweep as an N-task Slurm job array and its merge as a job that runs when
# the array is over, and prints both job ids.
#   deploy/slurm/submit.sh N RESULTS FUZZ-ARGS...
#   deploy/slurm/submit.sh 64 /shared/campaign scenarios/swarm/five-servers-writes.toml \
#       --swarm --seeds 0..1000000
# SIM names the sim binary every task runs (default: sim on PATH). Extra sbatch options
# (partition, account, time limit) go in SBATCH_* environment variables, which sbatch
# reads itself (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT).
set -euo pipefail
n=${1:?usage: submit.sh N RESULTS FUZZ-ARGS...}
results=${2:?usage: submit.sh N RESULTS FUZZ-ARGS...}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$results"
results=$(cd "$results" && pwd)
array=$(sbatch --parsable --array="1-$n" --output="$results/fuzz-%A_%a.out" \
    "$here/fuzz.sbatch" "$results" "$@")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterany:$array" --output="$results/merge-%j.out" \
    "$here/merge.sbatch" "$results" "$n")
merge=${merge%%;*}
echo "array $array ($n shards), merge $merge; results in $results"
