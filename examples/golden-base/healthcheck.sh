#!/bin/sh
# Fails if the hardening of the golden base has been undone.
set -eu
if find / -xdev -perm /6000 -type f 2>/dev/null | grep -q .; then
  echo "setuid/setgid binaries present" >&2
  exit 1
fi
id app >/dev/null
echo ok
