#!/usr/bin/env bash
# Make sure the services that bucket notification tests deliver to answer on
# 127.0.0.1 (tests/behaviour/test_notification*.py, docs/notifications.md):
# Redis 6379, RabbitMQ 5672, Mosquitto 1883, NATS with JetStream 4222, MariaDB
# 3306.  Each that is installed but not answering is started (Debian's
# packages); one that is not installed is reported, and its tests skip
# outside CI.  PostgreSQL: scripts/ensure-postgres.sh.
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {  # port, name, command...
  local port=$1 name=$2; shift 2
  up "$port" && return 0
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "$name is not installed: its notification tests will be skipped (Debian: apt-get install $name)" >&2
    return 0
  fi
  echo "starting $name"
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 1 150); do up "$port" && return 0; sleep 0.2; done
  echo "$name did not start answering on 127.0.0.1:$port" >&2
}
start 6379 redis-server redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp --logfile /tmp/pails-ci-redis.log
start 1883 mosquitto mosquitto -d -c /etc/mosquitto/mosquitto.conf
start 4222 nats-server start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
  -a 127.0.0.1 -p 4222 -js -sd /tmp/pails-ci-nats -l /tmp/pails-ci-nats.log
start 3306 mariadbd start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd)"
start 5672 rabbitmq-server rabbitmq-server -detached
exit 0
