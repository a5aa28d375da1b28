#!/usr/bin/env bash
# Take the tray's screenshots (Spanish) on a virtual screen with a system tray.
# Usage, from the project root: docs/screenshots/make.sh  (needs ../shared/tools/xshot)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/screenshots
tmp=$(mktemp -d)
for scene in menu notification update progress failure restore settings history; do
  INNOVA_LANG=es ../shared/tools/xshot "$tmp/$scene" "5" .venv/bin/python -m gui.screenshots "$scene" >/dev/null
  # Crop to what is on the screen (the background is black).
  convert "$tmp/$scene-5s.png" -trim +repage -bordercolor black -border 8 "$out/$scene.png"
  echo "$out/$scene.png"
done
rm -rf "$tmp"
