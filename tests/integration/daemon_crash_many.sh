#!/bin/bash
# Runs daemon_crash.sh with 12 certificates, so that the kills land while
# 8 or more orders are in flight on the order threads. 8 kills keep the
# run under 30 s here.
CRASH_CERTS=12 CRASH_KILLS=${CRASH_KILLS:-8} \
	exec bash "$(dirname "$0")/daemon_crash.sh"
