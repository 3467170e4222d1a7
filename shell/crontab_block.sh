#!/usr/bin/env bash
# Prints the crontab's sweeplake block: this repository's crontab.txt with its placeholders
# filled in; REPO is where the block's commands find the repository (the instance's clone).
# Usage: shell/crontab_block.sh REPO [LAKE] [REGION] [WORKGROUP] [DATABASE]
# Settings left empty are left out, so the job falls back to its defaults. The daily `compact`
# is for Athena: it stays only when the lake is on S3 and a workgroup is given.
set -euo pipefail

here=$(dirname -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")")
repo="${1:-}"
lake="${2:-}"
region="${3:-}"
workgroup="${4:-}"
database="${5:-}"

refuse() {
    local message="$*"
    printf 'crontab_block: %s\n' "${message//$'\n'/\\n}" >&2
    exit 2
}

# Each value goes into sed's replacement and into the crontab: only the characters the stack's
# own parameters allow.
[[ "$repo" =~ ^/[A-Za-z0-9._/-]*$ ]] || refuse "the repository must be an absolute path, got $repo"
[[ -z "$lake" || "$lake" =~ ^s3://[a-z0-9][a-z0-9.-]*[a-z0-9](/[A-Za-z0-9!_.*()=-]+)*$ ]] ||
    refuse "the lake must be s3://bucket/prefix, got $lake"
[[ -z "$region" || "$region" =~ ^[a-z0-9-]+$ ]] || refuse "not a region: $region"
[[ -z "$workgroup" || "$workgroup" =~ ^[A-Za-z0-9._-]{1,128}$ ]] ||
    refuse "not an Athena workgroup name: $workgroup"
[[ -z "$database" || "$database" =~ ^[a-z0-9_]{1,255}$ ]] ||
    refuse "not a Glue database name (lowercase letters, digits, '_'): $database"

keep_compact=1
if [[ -z "$lake" || -z "$workgroup" ]]; then
    keep_compact=0
fi

sed -e "s|@REPO@|$repo|g" -e "s|@LAKE@|$lake|g" -e "s|@REGION@|$region|g" \
    -e "s|@WORKGROUP@|$workgroup|g" -e "s|@DATABASE@|$database|g" "$here/crontab.txt" |
    sed -e '/^[A-Z_]*=$/d' |
    if ((keep_compact)); then cat; else sed -e '/^# compact/d' -e '/sweeplake compact/d'; fi
