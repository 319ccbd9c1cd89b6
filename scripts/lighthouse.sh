#!/usr/bin/env bash
# Lighthouse's installability checks (its "pwa" category: the manifest, the service worker,
# the icons, the theme colour) against a running site, in headless Chromium:
#
#   scripts/run &                        # the site at http://127.0.0.1:8000
#   scripts/lighthouse.sh [URL]          # default: http://127.0.0.1:8000/login/
#
# Lighthouse 11.7.1 exactly: 12 dropped the installable (PWA) category. npx fetches it from the
# npm registry once into its cache. The whole report is written to var/lighthouse/pwa.json;
# the verdict of each audit is printed, and the exit status is 0 only when the site is
# installable (audit installable-manifest passes).
set -euo pipefail
cd "$(dirname "$0")/.."

URL="${1:-http://127.0.0.1:8000/login/}"
OUT=var/lighthouse
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
mkdir -p "$OUT"

npx --yes lighthouse@11.7.1 "$URL" \
  --only-categories=pwa \
  --output=json --output-path="$OUT/pwa.json" \
  --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
  --quiet

node - "$OUT/pwa.json" <<'JS'
const report = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const category = report.categories.pwa;
console.log(`Lighthouse ${report.lighthouseVersion}, ${report.finalDisplayedUrl}`);
for (const { id } of category.auditRefs) {
  const audit = report.audits[id];
  if (audit.scoreDisplayMode === "manual") continue;
  const verdict = audit.score === 1 ? "pass" : audit.score === null ? "n/a " : "FAIL";
  console.log(`  ${verdict}  ${id}: ${audit.title}`);
  if (audit.score !== 1 && audit.details?.items?.length) {
    for (const item of audit.details.items) console.log(`          ${JSON.stringify(item)}`);
  }
}
const installable = report.audits["installable-manifest"].score === 1;
console.log(installable ? "installable: yes" : "installable: NO");
process.exit(installable ? 0 : 1);
JS
