#!/usr/bin/env bash
# ami-smoke.sh TARGET ENV OUT.xml [bakery args...]: the golden AMI's smoke
# check in ENV, written as JUnit XML for `bakery test TARGET --env ENV --suite
# smoke --junit OUT.xml`. In a real pipeline this is CI booting an instance
# of the AMI in staging and testing it; the demo has no instances to boot, so
# it checks what it can offline: `bakery drift` finds ENV's AMIs in every
# region and account of ENV, shared and tagged with the receipted record.
set -uo pipefail
target=$1 env=$2 out=$3
shift 3
bakery=${BAKERY:-bakery}
started=$(date +%s)
report=$("$bakery" drift "$target" --env "$env" "$@" 2>&1)
code=$?
took=$(( $(date +%s) - started ))
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
{
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo "<testsuites><testsuite name=\"smoke\" tests=\"1\" failures=\"$([ $code -eq 0 ] && echo 0 || echo 1)\" time=\"$took\">"
  echo "<testcase classname=\"$target\" name=\"the AMIs of $target in $env are where its receipt says\" time=\"$took\">"
  if [ $code -ne 0 ]; then
    echo "<failure message=\"bakery drift exited $code\">$(printf '%s' "$report" | esc)</failure>"
  fi
  echo "</testcase></testsuite></testsuites>"
} >"$out"
echo "ami-smoke: $target in $env: drift exit $code, JUnit in $out" >&2
