#!/bin/sh
# The image's entrypoint (under tini). `docker run IMAGE` runs the service (the CMD);
# `docker run IMAGE test nginx`, `docker run IMAGE validate ...` and `docker run IMAGE --help`
# run the credbroker command; anything else (sh, node, docker-credential-credbroker, ...)
# runs as given.
set -e
case "${1-}" in
  serve | validate | test | version | help | -*)
    set -- credbroker "$@"
    ;;
esac
exec "$@"
