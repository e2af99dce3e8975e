#!/usr/bin/env bash
# Everything CI runs, stage by stage, each timed; stops at the first failing stage.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
export PATH="$PWD/$BIN:$PATH" MPLBACKEND=Agg PYTHONHASHSEED=0
declare -a NAMES TIMES
total_start=$(date +%s)

stage() {  # stage NAME COMMAND...
  local name=$1; shift
  echo; echo "=== stage: $name"
  local start=$(date +%s)
  "$@"; local rc=$?
  NAMES+=("$name"); TIMES+=("$(( $(date +%s) - start ))")
  if [ $rc -ne 0 ]; then summary; echo "FAILED at stage '$name' (exit $rc)"; exit $rc; fi
}

summary() {
  echo; echo "=== stage times (seconds)"
  for i in "${!NAMES[@]}"; do printf '  %-14s %5s\n' "${NAMES[$i]}" "${TIMES[$i]}"; done
  printf '  %-14s %5s\n' total "$(( $(date +%s) - total_start ))"
}

stage set-up       bash -c "make --no-print-directory setup && python -m utils.data && python scripts/fetch_mathjax.py"
stage unit-tests   python -m pytest -q tests/
stage notebooks    env COURSE_QUICK=1 python -m pytest -q --nbval-lax --nbval-current-env notebooks/
# Colab recreated in a fresh venv (scripts/colab_check.py), and an install from an offline kit with --no-index
stage colab        env COURSE_COLAB_CHECK=1 python -m pytest -q -s tests/test_colab.py -k simulation
stage offline-kit  env COURSE_OFFLINE_KIT_CHECK=1 python -m pytest -q tests/test_offline_kit.py -k install
stage book-build   jupyter-book build . --all -W -n --keep-going
stage site-check   python scripts/check_site.py _build/html
summary
