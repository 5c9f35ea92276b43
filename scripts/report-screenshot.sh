#!/usr/bin/env bash
# Render a Snakemake report offline in headless Chromium and save a screenshot: a visual check that the
# self-contained report opens without the network (Debian: apt-get install chromium).
#   scripts/report-screenshot.sh [reports/report.html] [reports/report.png]
set -euo pipefail
html=${1:-reports/report.html}
png=${2:-${html%.html}.png}
[ -f "$html" ] || { echo "error: $html not found; write it first: snakemake --report $html" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "error: no chromium found; install it (Debian: apt-get install chromium)" >&2; exit 1; }
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --virtual-time-budget=15000 --window-size=1400,1000 \
    --screenshot="$(realpath -m "$png")" "file://$(realpath "$html")" >/dev/null 2>&1
[ -s "$png" ] || { echo "error: chromium wrote no screenshot to $png" >&2; exit 1; }
echo "wrote $png"
