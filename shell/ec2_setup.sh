#!/usr/bin/env bash
# Bootstraps a fresh Amazon Linux 2023 instance to run sweeplake from cron, as the current user.
# Usage, from a clone of the repository:
#   shell/ec2_setup.sh [s3://bucket/prefix [ATHENA_WORKGROUP [GLUE_DATABASE]]]
# With a workgroup, the crontab also compacts the closed days' scores once a day (for Athena).
# Safe to run again: packages, virtualenv and requirements are brought up to date, and the
# crontab's sweeplake block is replaced, never added twice.
set -euo pipefail

repo=$(dirname -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")")
lake="${1:-${SWEEPLAKE_LAKE:-}}"
workgroup="${2:-${SWEEPLAKE_ATHENA_WORKGROUP:-}}"
database="${3:-${SWEEPLAKE_DATABASE:-}}"

log() {
    printf '%s ec2_setup %s\n' "$(date +%Y-%m-%dT%H:%M:%S%z)" "$*" >&2
}

instance_region() {
    # IMDSv2: a session token first, then the instance's region; empty when not on EC2.
    local token
    token=$(curl -sf -m 2 -X PUT http://169.254.169.254/latest/api/token \
        -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') || return 0
    curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" \
        http://169.254.169.254/latest/meta-data/placement/region || true
}

# The crontab block is made first: a bad setting stops here (one line, exit 2), before
# anything is installed.
region="${AWS_REGION:-$(instance_region)}"
block=$("$repo/shell/crontab_block.sh" "$repo" "$lake" "$region" "$workgroup" "$database")

log "installing python3.11, git and cronie"
sudo dnf install -y -q python3.11 git cronie
sudo systemctl enable --now crond

if [[ ! -x "$repo/.venv/bin/python" ]]; then
    log "creating $repo/.venv"
    python3.11 -m venv "$repo/.venv"
fi
log "installing requirements.txt into $repo/.venv"
"$repo/.venv/bin/pip" install -q --disable-pip-version-check -r "$repo/requirements.txt"
log "installing the sweeplake command into $repo/.venv/bin"
"$repo/.venv/bin/pip" install -q --disable-pip-version-check --no-deps -e "$repo"
mkdir -p "$repo/results"

current=$(crontab -l 2>/dev/null || true)
{
    if [[ -n "$current" ]]; then
        printf '%s\n' "$current" | sed -e '/^# >>> sweeplake/,/^# <<< sweeplake/d'
    fi
    printf '%s\n' "$block"
} | crontab -
log "crontab installed for $(id -un): every minute, log in $repo/results/cron.log"
if [[ -n "$lake" && -n "$workgroup" ]]; then
    log "and compact daily at 00:15 for Athena: workgroup $workgroup, database ${database:-sweeplake}"
fi
log "lake: ${lake:-$repo/results/lake (local)}; region: ${region:-unset}"
