#!/usr/bin/env bash
# The cron entry: one start of the job, never two at once. Arguments go to `python -m sweeplake run`.
# Exit status: the job's own (0 ok, 1 lake unreachable, 2 bad input, 3 lake refuses us, 4 every
# trial of the batch failed; see docs/operations.md), 75 when another run holds the lock, 78 when
# the virtualenv is missing. Made for cron's bare
# environment: no HOME, a minimal PATH, any working directory.
set -uo pipefail

export PATH="/usr/local/bin:/usr/bin:/bin${PATH:+:$PATH}"
EX_LOCKED=75
EX_CONFIG=78

log() {
    printf '%s runpipeline[%d] %s\n' "$(date +%Y-%m-%dT%H:%M:%S%z)" "$$" "$*" >&2
}

script=$(readlink -f -- "${BASH_SOURCE[0]}")
repo=$(dirname -- "$(dirname -- "$script")")
python="$repo/.venv/bin/python"
lock="${SWEEPLAKE_LOCK:-$repo/results/runpipeline.lock}"

if [[ ! -x "$python" ]]; then
    log "no virtualenv at $repo/.venv: run shell/ec2_setup.sh (or make) first"
    exit "$EX_CONFIG"
fi
mkdir -p -- "$(dirname -- "$lock")"
# The kernel drops a flock when the last process holding the descriptor dies, even by kill -9,
# so a crashed run never leaves a lock behind; the job inherits descriptor 9 and holds it too.
exec 9>>"$lock"
if ! flock -n 9; then
    log "another run holds the lock $lock: not starting"
    exit "$EX_LOCKED"
fi

cd -- "$repo" || exit "$EX_CONFIG"
log "start: python -m sweeplake run $*"
"$python" -m sweeplake run "$@"
status=$?
log "end: exit status $status"
exit "$status"
