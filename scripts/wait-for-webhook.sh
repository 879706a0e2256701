#!/usr/bin/env bash
# Waits for a VM's ansible-pull run to finish by long-polling the webhook status receiver, then
# prints the run's summary and exits with a code that tells CI what happened. See --help.
set -euo pipefail

readonly PROG=wait-for-webhook.sh
readonly EXIT_SUCCEEDED=0 EXIT_FAILED=1 EXIT_TIMEOUT=2 EXIT_UNREACHABLE=3 EXIT_UNAUTHORIZED=4 EXIT_AMBIGUOUS=5 EXIT_USAGE=64
readonly DEFAULT_URL=http://127.0.0.1:9191
readonly MAX_BACKOFF=30

usage() {
  cat <<EOF
Usage: $PROG [options] VM
       $PROG [options] VM VM...   (or --fleet, for every VM in the expected fleet)

Waits until VM has a finished ansible-pull run on the webhook status receiver, by long-polling
GET /hosts/VM/wait. VM is anything the receiver knows the VM by: IP address, hostname,
machine-id, cloud-init instance-id or Proxmox VMID. A VM that has not reported yet is waited for.
A VM whose cloud-init reported FAIL (boot-failed), whose ansible-pull could not get or start the
playbook (pull-failed), or that is expected but silent past the receiver's grace (missing) ends
the wait at once with exit 1, its cloud-init stage or git error in the summary.

With several VMs, or --fleet, the receiver holds one long-poll for all of them
(GET /fleet/wait) and the wait ends as soon as the answer is known: every VM succeeded (exit 0),
or any VM failed, boot-failed, pull-failed or is missing (exit 1, unless --keep-going). Then one
summary line per VM goes to stdout: VM, status, what is known.

While waiting, a progress line (elapsed time, run status, tasks done) goes to stderr after every
poll. When the run has finished, its summary goes to stdout: host, run id, status, playbook,
commit, duration, task counts and, for a failed run, the failed tasks with their messages.

Options:
  --url URL          receiver base URL (default: \$WEBHOOK_URL, else $DEFAULT_URL)
  --timeout SECONDS  how long to wait in all (default 1800; 0 asks once without waiting)
  --since TIME       only count runs started at or after TIME: ISO 8601 (2026-11-26T08:00:00Z)
                     or Unix seconds. Take it before 'tofu apply' when a VM may be re-created
                     with the address or name of an older one, or the older run answers at once.
                     Runs are timed by the VM's clock: leave a margin for skew (see below).
  --token-file FILE  file holding the receiver's read token (WEBHOOK_READ_TOKEN). Default:
                     \$WEBHOOK_READ_TOKEN_FILE; the token may also come in \$WEBHOOK_READ_TOKEN.
                     The token is never put on a command line.
  --poll SECONDS     longest single long-poll (default 25, below common proxy idle timeouts);
                     also how often progress is shown
  --retries N        attempts after an unreachable receiver (refused, DNS, timeout, 5xx) before
                     giving up, with backoff 1, 2, 4 ... ${MAX_BACKOFF} s (default 5: about 30 s)
  --fleet            wait for every VM of the expected fleet (PUT /fleet, Proxmox discovery)
  --keep-going       with several VMs: wait until every VM is done, then exit 1 if any failed
  --quiet            no progress lines (errors still go to stderr)
  -h, --help         show this help

Exit status:
  0   the run succeeded (with several VMs: every VM succeeded or checked in)
  1   the run failed (failed or unreachable tasks, or ansible-pull exited non-zero), or the
      VM's boot or pull failed, or it is missing (with several VMs: any of them)
  2   timeout: no finished run within --timeout (with several VMs: the ones still pending
      are named)
  3   the receiver cannot be reached, or gave an answer that is not the receiver's
  4   the receiver refused the read token (401/403): set --token-file or WEBHOOK_READ_TOKEN
  5   VM is an IP address that several hosts list (409): name it by hostname, machine-id or VMID
  64  usage error (bad option, bad --since or VM, unreadable token file, curl missing)

Needs bash 4 or later and curl: the receiver writes the summaries (it answers in plain text).

Example (CI):
  started=\$(( \$(date +%s) - 120 ))   # two minutes of slack for the VM's clock
  tofu apply -auto-approve
  $PROG --since "\$started" --timeout 1800 "\$VM_IP"
  $PROG --since "\$started" --timeout 1800 --fleet     # after PUT /fleet
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  local code=$1
  shift
  say "$*"
  exit "$code"
}
usage_error() {
  say "$*"
  say "try '$PROG --help'"
  exit "$EXIT_USAGE"
}


is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

clock() { printf '%02d:%02d' $((SECONDS / 60)) $((SECONDS % 60)); }

# Sets HTTP_CODE (000 when no answer) and CURL_ERROR; the body lands in $work/body.
# (The ${a[@]+...} form: bash before 4.4 calls an empty array unbound under set -u.)
request() {
  local url=$1 max_time=$2 accept=${3:-application/json}
  CURL_ERROR=""
  HTTP_CODE=$(curl -q --silent --show-error --output "$work/body" --write-out '%{http_code}' \
    --connect-timeout 10 --max-time "$max_time" -H "Accept: $accept" \
    ${auth_args[@]+"${auth_args[@]}"} -- "$url" 2>"$work/curl.err") || true
  [[ $HTTP_CODE =~ ^[0-9]{3}$ ]] || HTTP_CODE=000
  if [[ $HTTP_CODE == 000 ]]; then
    CURL_ERROR=$(head -c 300 "$work/curl.err")
    CURL_ERROR=${CURL_ERROR:-no answer}
  fi
}

transient() { [[ $1 == 000 || $1 == 408 || $1 == 429 || $1 =~ ^5[0-9][0-9]$ ]]; }

url=${WEBHOOK_URL:-$DEFAULT_URL}
timeout=1800
poll=25
retries=5
since=""
quiet=0
token_file=${WEBHOOK_READ_TOKEN_FILE:-}
vms=()
fleet=0
keep_going=0

while (($# > 0)); do
  case $1 in
    -h | --help)
      usage
      exit 0
      ;;
    --quiet) quiet=1 ;;
    --fleet) fleet=1 ;;
    --keep-going) keep_going=1 ;;
    --url | --timeout | --since | --token-file | --poll | --retries)
      (($# >= 2)) || usage_error "$1 needs a value"
      case $1 in
        --url) url=$2 ;;
        --timeout) timeout=$2 ;;
        --since) since=$2 ;;
        --token-file) token_file=$2 ;;
        --poll) poll=$2 ;;
        --retries) retries=$2 ;;
      esac
      shift
      ;;
    --url=*) url=${1#*=} ;;
    --timeout=*) timeout=${1#*=} ;;
    --since=*) since=${1#*=} ;;
    --token-file=*) token_file=${1#*=} ;;
    --poll=*) poll=${1#*=} ;;
    --retries=*) retries=${1#*=} ;;
    --) shift; break ;;
    -*) usage_error "unknown option $1" ;;
    *) vms+=("$1") ;;
  esac
  shift
done
vms+=("$@")

if ((fleet)); then
  ((${#vms[@]} == 0)) || usage_error "--fleet waits for every expected VM; name no VM with it"
else
  ((${#vms[@]} > 0)) || usage_error "which VM? give its IP, hostname, machine-id, instance-id or VMID (or --fleet)"
fi
for v in ${vms[@]+"${vms[@]}"}; do
  [[ $v =~ ^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$ ]] || usage_error "'$v' is not a VM name, IP address, machine-id, instance-id or VMID"
done
many=$((fleet || keep_going || ${#vms[@]} > 1))
is_uint "$timeout" || usage_error "--timeout wants whole seconds, not '$timeout'"
if ! is_uint "$poll" || ((poll < 1)); then usage_error "--poll wants whole seconds of at least 1, not '$poll'"; fi
is_uint "$retries" || usage_error "--retries wants a count, not '$retries'"
[[ $url =~ ^https?://[^/]+ ]] || usage_error "--url wants http(s)://host[:port], not '$url'"
url=${url%/}
command -v curl >/dev/null || usage_error "curl is not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/wait-for-webhook.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The token goes to curl in a config file readable only by us, never as an argument.
auth_args=()
token=${WEBHOOK_READ_TOKEN:-}
if [[ -n $token_file ]]; then
  [[ -r $token_file ]] || usage_error "cannot read the token file $token_file"
  token=$(<"$token_file")
fi
token=${token//[$'\t\r\n ']/}
if [[ -n $token ]]; then
  [[ $token =~ ^[!-~]+$ && $token != *'"'* && $token != *\\* ]] ||
    usage_error "the read token has characters a bearer token cannot have"
  (
    umask 077
    printf 'header = "Authorization: Bearer %s"\n' "$token" >"$work/auth.conf"
  )
  auth_args=(--config "$work/auth.conf")
fi
unset token

# Percent-encodes one query value; names are checked above, times may hold ':' and '+'.
quote() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

since_query=""
[[ -z $since ]] || since_query="&since=$(quote "$since")"

# Backs off after an unreachable receiver; dies after --retries attempts.
failures=0
backoff_or_die() {
  local problem
  failures=$((failures + 1))
  if [[ $HTTP_CODE == 000 ]]; then problem=$CURL_ERROR; else problem="HTTP $HTTP_CODE: $(error_message)"; fi
  if ((failures > retries)); then
    die "$EXIT_UNREACHABLE" "receiver at $url unreachable after $failures attempts: $problem"
  fi
  local backoff=$((1 << (failures - 1)))
  ((backoff <= MAX_BACKOFF)) || backoff=$MAX_BACKOFF
  ((quiet)) || say "[$(clock)] receiver not answering ($problem); retry $failures of $retries in ${backoff}s"
  sleep "$backoff"
}

# The message of a JSON error answer, without python: the receiver's errors are one flat object.
error_message() {
  local text
  text=$(head -c 2000 "$work/body" 2>/dev/null | tr '\n' ' ')
  if [[ $text =~ \"message\":\"(([^\"\\]|\\.)*)\" ]]; then
    text=${BASH_REMATCH[1]//\\\"/\"}
    printf '%s' "${text//\\\\/\\}"
  else
    printf '%s' "${text:0:200}"
  fi
}

readonly DONE_STATUSES=" succeeded checked-in failed boot-failed pull-failed missing stopped "

# Several VMs: one long-poll on GET /fleet/wait, answered in text/plain, one line per VM.
wait_many() {
  local selector="" v wait_for remaining asked_at state pending line
  if ((fleet)); then selector="&all=1"; fi
  for v in ${vms[@]+"${vms[@]}"}; do selector+="&vm=$(quote "$v")"; done
  ((keep_going)) && selector+="&keep_going=1"
  local what="${#vms[@]} VMs"
  ((fleet)) && what="every expected VM"
  ((quiet)) || say "waiting up to ${timeout}s for $what at $url${since:+ (runs since $since)}"
  local deadline=$((SECONDS + timeout))
  while true; do
    remaining=$((deadline - SECONDS))
    ((remaining > 0)) || remaining=0
    wait_for=$((remaining < poll ? remaining : poll))
    asked_at=$SECONDS
    request "$url/fleet/wait?timeout=$wait_for$since_query$selector" $((wait_for + 30)) text/plain
    if transient "$HTTP_CODE"; then
      backoff_or_die
      continue
    fi
    failures=0
    case $HTTP_CODE in
      200 | 202)
        state=$(sed -n 's/^state=\([a-z]*\) .*/\1/p' "$work/body" | tail -n 1)
        [[ $state == succeeded || $state == failed || $state == pending ]] ||
          die "$EXIT_UNREACHABLE" "unexpected answer from $url (HTTP $HTTP_CODE); is this the webhook receiver?"
        ;;&
      200)
        grep -v '^state=' "$work/body" || true
        [[ $state == succeeded ]] && exit "$EXIT_SUCCEEDED"
        exit "$EXIT_FAILED"
        ;;
      202)
        pending=()
        while IFS= read -r line; do
          [[ $line == state=* || -z $line ]] && continue
          read -r v status _ <<<"$line"
          [[ $DONE_STATUSES == *" $status "* ]] || pending+=("$v")
        done <"$work/body"
        if ((SECONDS >= deadline)); then
          grep -v '^state=' "$work/body" || true
          die "$EXIT_TIMEOUT" "timed out after ${timeout}s; still pending: ${pending[*]:-none}"
        fi
        ((quiet)) || say "[$(clock)] ${#pending[@]} pending: ${pending[*]:-none}"
        ((SECONDS > asked_at)) || sleep 1
        ;;
      400) usage_error "the receiver refused the question: $(error_message)" ;;
      409) die "$EXIT_AMBIGUOUS" "$(error_message)" ;;
      401 | 403) die "$EXIT_UNAUTHORIZED" "the receiver wants a valid read token (HTTP $HTTP_CODE: $(error_message))" ;;
      *) die "$EXIT_UNREACHABLE" "unexpected answer from $url (HTTP $HTTP_CODE: $(error_message)); is this the webhook receiver?" ;;
    esac
  done
}

if ((many)); then wait_many; fi

vm=${vms[0]}
host_path=$(quote "$vm")

((quiet)) || say "waiting up to ${timeout}s for a finished run of $vm at $url${since:+ (runs since $since)}"

deadline=$((SECONDS + timeout))
while true; do
  remaining=$((deadline - SECONDS))
  ((remaining > 0)) || remaining=0
  wait_for=$((remaining < poll ? remaining : poll))
  asked_at=$SECONDS
  request "$url/hosts/$host_path/wait?timeout=$wait_for$since_query" $((wait_for + 30)) text/plain

  if transient "$HTTP_CODE"; then
    backoff_or_die
    continue
  fi
  failures=0

  case $HTTP_CODE in
    200 | 202)
      # The receiver writes the answer: `status=<state>`, then what to print.
      [[ $(head -n 1 "$work/body") =~ ^status=([a-z-]+)$ ]] ||
        die "$EXIT_UNREACHABLE" "unexpected answer from $url (HTTP $HTTP_CODE: $(error_message)); is this the webhook receiver?"
      state=${BASH_REMATCH[1]}
      ;;&
    200)
      case $state in
        succeeded | failed | boot-failed | pull-failed | missing | stopped)
          # The exit code is the answer; a summary that cannot be printed must not change it.
          tail -n +2 "$work/body" || say "could not print the run summary"
          [[ $state == succeeded ]] && exit "$EXIT_SUCCEEDED"
          exit "$EXIT_FAILED"
          ;;
        *) die "$EXIT_UNREACHABLE" "unexpected status '$state' in a finished answer" ;;
      esac
      ;;
    202)
      line=$(sed -n 2p "$work/body")
      ((SECONDS < deadline)) || die "$EXIT_TIMEOUT" "timed out after ${timeout}s: $line"
      ((quiet)) || say "[$(clock)] $line"
      # A receiver that answers early (shutting down, or a WEBHOOK_MAX_WAIT_SECONDS below --poll)
      # must not be asked again in a tight loop.
      ((SECONDS > asked_at)) || sleep 1
      ;;
    400) usage_error "the receiver refused the question: $(error_message)" ;;
    409) die "$EXIT_AMBIGUOUS" "$(error_message)" ;;
    401 | 403) die "$EXIT_UNAUTHORIZED" "the receiver wants a valid read token (HTTP $HTTP_CODE: $(error_message))" ;;
    *) die "$EXIT_UNREACHABLE" "unexpected answer from $url (HTTP $HTTP_CODE: $(error_message)); is this the webhook receiver?" ;;
  esac
done
