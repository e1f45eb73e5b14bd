#!/usr/bin/env bash
# Keeps ctest -V output readable: each test's name, Criterion's own summary and
# failure lines, and ctest's closing counts. Exits non-zero when ctest reported
# a failure (the exit status of ctest itself is lost in the pipe otherwise).
set -uo pipefail
status=0
declare -A unsupported=()
while IFS= read -r line; do
  case "$line" in
    *"[UNSUPPORTED]"*) # counted per device and reason, printed once at the end
      dev=${line#* on }; dev=${dev%%:*}:${dev#*:}; dev=${dev%%: *}
      reason=${line##*: }
      key="$dev: $reason"
      unsupported[$key]=$(( ${unsupported[$key]:-0} + 1 ))
      continue ;;
  esac
  case "$line" in
    *"Test #"*|*"Test command"*) ;;
    *"[====] Synthesis"*|*"[FAIL]"*|*"[----]"*|*"[ERR ]"*|*"[WARN]"*|*"tests passed"*|*"tests failed"*|*"Failed"*|*"***"*|*"Total Test time"*|*"The following tests FAILED"*|*"ERROR: "*|*"runtime error"*|*"SUMMARY:"*)
      printf '%s\n' "$line" ;;
    *"Start "*) printf '%s\n' "$line" ;;
  esac
  case "$line" in
    *"tests failed out of"*) case "$line" in *" 0 tests failed"*) ;; *) status=1 ;; esac ;;
    *"The following tests FAILED"*) status=1 ;;
    *"No tests were found"*) status=1 ;;
  esac
done
if ((${#unsupported[@]})); then
  echo "[UNSUPPORTED] conformance cases a device's backend refused (not passes; full lines in ctest -V):"
  for key in "${!unsupported[@]}"; do printf '  %5d  %s\n' "${unsupported[$key]}" "$key"; done | sort -k2
fi
exit $status
