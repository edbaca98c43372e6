#!/bin/sh
# ext: credentials, JSON form with expiresAt. A real script would call
# `aws ecr get-login-password`; this one prints an example token valid for 12 hours.
exp=$(date -u -d '+12 hours' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+12H +%Y-%m-%dT%H:%M:%SZ)
printf '{"username":"AWS","password":"example-ecr-token","expiresAt":"%s"}\n' "$exp"
