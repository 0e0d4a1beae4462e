#!/bin/sh
# The example service: it reports which golden base it runs on, then exits.
set -eu
echo "app on $(head -n 1 /etc/motd 2>/dev/null || echo 'an unknown base')"
/usr/local/bin/healthcheck
