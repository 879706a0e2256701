#!/usr/bin/env bash
# What the webhook_status callback costs a run: wall time of a generated local playbook with the
# plugin disabled, enabled with the receiver up, and enabled with the receiver down (closed port).
#
#   BENCH_RECEIVER_URL=http://127.0.0.1:9191 bench/callback-overhead.sh
#
# The caller starts the receiver. Targets: under 5% slower with it up, under 10 s added with it
# down. Figures are printed, never enforced. Knobs: BENCH_TASKS (200), BENCH_RUNS (3, the median
# is reported), BENCH_DOWN_URL (a closed port), ANSIBLE_PLAYBOOK (/usr/bin/ansible-playbook).
set -euo pipefail

receiver_url=${BENCH_RECEIVER_URL:?set BENCH_RECEIVER_URL to the base URL of a running receiver}
down_url=${BENCH_DOWN_URL:-http://127.0.0.1:9}
tasks=${BENCH_TASKS:-200}
runs=${BENCH_RUNS:-3}
playbook_bin=${ANSIBLE_PLAYBOOK:-/usr/bin/ansible-playbook}
plugins=$(cd "$(dirname "${BASH_SOURCE[0]}")/../ansible/callback_plugins" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Cheap tasks, mixed so that both controller-side actions and real module runs are measured.
generate_playbook() {
  printf -- '- name: Callback overhead benchmark\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n'
  local i
  for ((i = 0; i < tasks; i++)); do
    case $((i % 3)) in
      0) printf '    - name: debug %d\n      ansible.builtin.debug:\n        msg: "task %d"\n' "$i" "$i" ;;
      1) printf '    - name: set_fact %d\n      ansible.builtin.set_fact:\n        fact_%d: %d\n' "$i" "$i" "$i" ;;
      2) printf '    - name: command %d\n      ansible.builtin.command: "true"\n      changed_when: false\n' "$i" ;;
    esac
  done
}

generate_playbook >"$work/bench.yml"
printf 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' >"$work/inventory"
: >"$work/ansible.cfg" # keep any ansible.cfg of the caller out of the measurement

# run_once MODE: runs the playbook once and prints "WALL CPU" in seconds (CPU: user + system
# of ansible-playbook and its workers, which other load on the machine disturbs less than wall).
run_once() {
  local mode=$1 timing
  local -a env_args=(env -u ANSIBLE_CALLBACKS_ENABLED ANSIBLE_CONFIG="$work/ansible.cfg")
  case $mode in
    up) env_args+=(ANSIBLE_CALLBACKS_ENABLED=webhook_status WEBHOOK_URL="$receiver_url") ;;
    down) env_args+=(ANSIBLE_CALLBACKS_ENABLED=webhook_status WEBHOOK_URL="$down_url") ;;
  esac
  # retry_for=0: no detached sender is left retrying after the benchmark.
  env_args+=(ANSIBLE_CALLBACK_PLUGINS="$plugins" WEBHOOK_SPOOL_DIR="$work/spool" WEBHOOK_RETRY_FOR=0)
  rm -rf "$work/spool"
  local TIMEFORMAT='%R %U %S'
  if ! timing=$({ time "${env_args[@]}" "$playbook_bin" -i "$work/inventory" "$work/bench.yml" \
    >"$work/$mode.log" 2>&1; } 2>&1); then
    echo "ansible-playbook failed in mode $mode:" >&2
    tail -20 "$work/$mode.log" >&2
    return 1
  fi
  if [[ $mode == up ]] && grep -q 'webhook_status' "$work/$mode.log"; then
    echo "warning: the plugin complained with the receiver up:" >&2
    grep -A2 'webhook_status' "$work/$mode.log" >&2
  fi
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$timing"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -a wall_disabled=() wall_up=() wall_down=() cpu_disabled=() cpu_up=() cpu_down=()
echo "playbook: $tasks tasks, $runs runs per mode, receiver up at $receiver_url, down at $down_url"
# Interleaved so that drift in machine load hits every mode alike.
for ((run = 1; run <= runs; run++)); do
  line="run $run:"
  for mode in disabled up down; do
    result=$(run_once "$mode")
    declare -n wall=wall_$mode cpu=cpu_$mode
    wall+=("${result% *}")
    cpu+=("${result#* }")
    line+=" $mode ${result% *} s (cpu ${result#* } s)"
    unset -n wall cpu
  done
  echo "$line"
done

report() {
  local what=$1 d u n
  d=$(median "${@:2:runs}") u=$(median "${@:2+runs:runs}") n=$(median "${@:2+2*runs:runs}")
  awk -v w="$what" -v d="$d" -v u="$u" -v n="$n" 'BEGIN {
    printf "\nmedian %s   disabled %.2f s   receiver up %.2f s   receiver down %.2f s\n", w, d, u, n
    printf "  receiver up:   x%.3f (%+.1f%%; target < +5%%)\n", u / d, (u / d - 1) * 100
    printf "  receiver down: x%.3f (%+.2f s; target < +10 s)\n", n / d, n - d
  }'
}
report "wall time" "${wall_disabled[@]}" "${wall_up[@]}" "${wall_down[@]}"
report "CPU time " "${cpu_disabled[@]}" "${cpu_up[@]}" "${cpu_down[@]}"
