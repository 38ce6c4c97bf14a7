#!/usr/bin/env bash
# runpod-ssh-action pod bootstrap: starts a watchdog that terminates this pod once it
# is no longer needed and, in runner mode, one ephemeral GitHub Actions runner.
#
# Transport. The action runs `bash -s` over SSH and writes to its stdin this script
# followed by a config block:
#     RPSA-CONFIG 1
#     KEY=<base64 of the value>
#     ...
#     RPSA-END
# bash reads a script from a pipe one byte at a time and runs each command as soon as
# it is complete. Everything here is a function and the last line calls `main`, so when
# `main` starts, bash has consumed the stream exactly up to the config block, which
# `main` then reads with `read`. The secrets in it (JIT config, registration token)
# therefore reach the pod only through the SSH channel and shell variables of this
# process, never a command line. Each is handed to the one runner process that needs it
# in that process's environment (ACTIONS_RUNNER_INPUT_*). The runner removes it from
# the environment of the listener and so of the worker and the job's steps
# (actions/runner src/Runner.Listener/CommandSettings.cs), but run.sh and
# run-helper.sh keep it, and /proc/<pid>/environ of the listener still shows it: a job
# running as the runner's user can read it. That gives the job nothing it lacks: the
# listener writes the decoded JIT config into the runner's directory as .runner,
# .credentials and .credentials_rsaparams (src/Runner.Listener/Runner.cs), which it
# must be able to read, and it serves only this one ephemeral runner. The registration
# token reaches config.sh only, which has exited before the runner takes a job.
#
# The pod-scoped RunPod key (never the user's key, which is never sent) is taken from
# this session's environment, else from /etc/rp_environment (RunPod's start script
# writes it there, world-readable), else, as root, from the environment of PID 1. The
# runner never gets it in its environment, but with RUNNER_USER empty the runner runs
# as the login user, on RunPod root: its job can read the key in all those places and
# can kill the watchdog, which leaves the pod to live until terminateAfter. With
# RUNNER_USER set (this needs a root login) the runner runs as that unprivileged user,
# created here without sudo and with no_new_privs, /etc/rp_environment becomes 0600,
# and the key stays in root's processes and root-only files, where a job can neither
# read it (/proc/<pid>/environ of another user's process is closed to it) nor signal
# the root watchdog.
#
# Output: any number of `RPSA-WARN <text>` lines, then exactly one of
#     RPSA-RESULT ok watchdog_pid=<pid> runner_pid=<pid or -> work_dir=<path>
#     RPSA-RESULT error <code> <message>
# and a non-zero exit status on error.
#
# A runner that exits before it listens for jobs (a refused configuration, a crash)
# fails the bootstrap with code runner-exited and the runner's own reason. GitHub
# refuses an expired runner version later, at the first message poll right after
# "Listening for Jobs" (actions/runner src/Runner.Listener/Runner.cs, then
# BrokerHttpClient.cs), so the action also asks the pod while it waits for the runner
# to show online (runner_status); the watchdog leaves such a pod up for
# RUNNER_EXIT_GRACE seconds so that question can still be answered.
#
# Needs bash, curl, tar and coreutils (sha256sum, base64); curl is installed with
# apt-get when missing and the login is root.

set -Eeuo pipefail

cfg_mode="" cfg_pod_id="" cfg_api_url="" cfg_deadline="" cfg_idle_timeout=""
cfg_interval="" cfg_runner_name="" cfg_runner_labels="" cfg_runner_url=""
cfg_runner_sha256="" cfg_registration="" cfg_jit_config="" cfg_registration_token=""
cfg_github_url="" cfg_runner_group="" cfg_runner_user=""
pod_key="" pod_env_id="" work_dir="" runner_dir="" runner_home="" result_printed=0 err_line=""
# How to run a command as the runner's user: empty for the login user.
as_runner=()
RUNNER_EXIT_GRACE=60

fail() { # fail CODE MESSAGE: report the error and stop
  result_printed=1
  printf 'RPSA-RESULT error %s %s\n' "$1" "${2//$'\n'/ }"
  exit 1
}

warn() {
  printf 'RPSA-WARN %s\n' "${1//$'\n'/ }"
}

# shellcheck disable=SC2329 # run by the EXIT trap
on_exit() {
  local status=$?
  if ((!result_printed)); then
    printf 'RPSA-RESULT error internal the bootstrap stopped unexpectedly (exit status %s%s)\n' \
      "$status" "${err_line:+, near line $err_line}"
    exit 1
  fi
}

decode() {
  printf '%s' "$1" | base64 -d
}

read_config() {
  local line key value
  IFS= read -r line || fail config "no configuration followed the script"
  [[ $line == "RPSA-CONFIG 1" ]] || fail config "unknown configuration format"
  while IFS= read -r line; do
    [[ $line == "RPSA-END" ]] && return 0
    key=${line%%=*}
    value=$(decode "${line#*=}") || fail config "the value of $key is not base64"
    case $key in
      MODE) cfg_mode=$value ;;
      POD_ID) cfg_pod_id=$value ;;
      API_URL) cfg_api_url=$value ;;
      DEADLINE) cfg_deadline=$value ;;
      IDLE_TIMEOUT) cfg_idle_timeout=$value ;;
      INTERVAL) cfg_interval=$value ;;
      RUNNER_NAME) cfg_runner_name=$value ;;
      RUNNER_LABELS) cfg_runner_labels=$value ;;
      RUNNER_URL) cfg_runner_url=$value ;;
      RUNNER_SHA256) cfg_runner_sha256=$value ;;
      REGISTRATION) cfg_registration=$value ;;
      JIT_CONFIG) cfg_jit_config=$value ;;
      REGISTRATION_TOKEN) cfg_registration_token=$value ;;
      GITHUB_URL) cfg_github_url=$value ;;
      RUNNER_GROUP) cfg_runner_group=$value ;;
      RUNNER_USER) cfg_runner_user=$value ;;
      *) fail config "unknown configuration key '$key'" ;;
    esac
  done
  fail config "the configuration ended before RPSA-END"
}

validate_config() {
  [[ $cfg_mode == runner || $cfg_mode == ssh ]] || fail config "unknown mode '$cfg_mode'"
  # The pod id goes into a JSON body and a directory name.
  [[ $cfg_pod_id =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || fail config "bad pod id '$cfg_pod_id'"
  [[ $cfg_api_url =~ ^https?:// ]] || fail config "bad RunPod API URL"
  [[ $cfg_deadline =~ ^[0-9]+$ ]] || fail config "bad deadline"
  [[ $cfg_idle_timeout =~ ^[0-9]+$ ]] || fail config "bad idle timeout"
  [[ $cfg_interval =~ ^[1-9][0-9]*$ ]] || fail config "bad watchdog interval"
  [[ $cfg_mode == ssh ]] && return 0
  ((cfg_idle_timeout > 0)) || fail config "the idle timeout must be positive"
  [[ $cfg_runner_name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || fail config "bad runner name"
  [[ $cfg_runner_url =~ ^https?:// ]] || fail config "bad runner download URL"
  [[ $cfg_runner_sha256 =~ ^[0-9a-f]{64}$ ]] || fail config "bad runner SHA-256"
  if [[ -n $cfg_runner_user ]]; then
    [[ $cfg_runner_user =~ ^[a-z_][a-z0-9_-]{0,31}$ && $cfg_runner_user != root ]] ||
      fail config "bad runner user '$cfg_runner_user'"
  fi
  case $cfg_registration in
    jit) [[ -n $cfg_jit_config ]] || fail config "no JIT config" ;;
    token)
      [[ -n $cfg_registration_token ]] || fail config "no registration token"
      [[ $cfg_github_url =~ ^https?:// ]] || fail config "bad GitHub URL"
      ;;
    *) fail config "unknown registration '$cfg_registration'" ;;
  esac
}

read_env_lines() { # NAME=VALUE or `export NAME="VALUE"` lines on stdin; never sourced
  local line name value
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line#export }
    name=${line%%=*}
    value=${line#*=}
    value=${value#\"}
    value=${value%\"}
    case $name in
      RUNPOD_API_KEY) [[ -n $pod_key ]] || pod_key=$value ;;
      RUNPOD_POD_ID) [[ -n $pod_env_id ]] || pod_env_id=$value ;;
    esac
  done
}

find_pod_credentials() {
  local rp_file=${RPSA_RP_ENVIRONMENT_FILE:-/etc/rp_environment}
  pod_key=${RUNPOD_API_KEY:-}
  pod_env_id=${RUNPOD_POD_ID:-}
  if [[ -z $pod_key && -r $rp_file ]]; then
    read_env_lines <"$rp_file"
  fi
  if [[ -z $pod_key && $(id -u) -eq 0 && -r /proc/1/environ ]]; then
    read_env_lines < <(tr '\0' '\n' </proc/1/environ)
  fi
  return 0
}

process_alive() { # a zombie counts as gone: nobody may be left to reap it
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ -r /proc/$pid/stat ]]; then
    stat=$(<"/proc/$pid/stat") || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
  else
    kill -0 "$pid" 2>/dev/null
  fi
}

pid_from() {
  local pid=""
  [[ -s $1 ]] && pid=$(<"$1")
  printf '%s' "$pid"
}

detach() { # detach PIDFILE LOGFILE COMMAND...: run COMMAND in its own session, past SSH's end
  local pidfile=$1 logfile=$2 waited
  shift 2
  rm -f "$pidfile"
  local -a starter=(nohup)
  if command -v setsid >/dev/null 2>&1; then
    starter=(setsid nohup)
  fi
  # The child writes its own pid (setsid may fork); all its fds leave the SSH channel,
  # or the session would stay open until it ends.
  # shellcheck disable=SC2016 # expanded by the child
  "${starter[@]}" bash -c 'echo "$$" >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' \
    "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
  for ((waited = 0; waited < 300; waited++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  return 1
}

# shellcheck disable=SC2329 # runs in watchdog.sh (see start_watchdog)
log_line() {
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

# shellcheck disable=SC2329 # runs in watchdog.sh (see start_watchdog)
terminate_pod() {
  local body response status attempt key
  [[ -n $pod_key ]] || find_pod_credentials
  if [[ -z $pod_key ]]; then
    log_line "no pod-scoped RUNPOD_API_KEY found; cannot terminate"
    return 1
  fi
  key=${pod_key//\\/\\\\}
  key=${key//\"/\\\"}
  body=$(printf '{"query":"mutation { podTerminate(input: {podId: \\"%s\\"}) }"}' "$cfg_pod_id")
  for attempt in 1 2 3 4 5; do
    # The key reaches curl through its config on stdin, never its argv.
    response=$(printf 'header = "Authorization: Bearer %s"\n' "$key" |
      curl --silent --show-error --config - --connect-timeout 10 --max-time 30 \
        --header 'Content-Type: application/json' --data-binary "$body" \
        --write-out '\n%{http_code}' "$cfg_api_url" 2>&1) || true
    status=${response##*$'\n'}
    response=${response%$'\n'*}
    if [[ $response == *"not found to terminate"* ]] ||
      [[ $status == 200 && $response != *'"errors"'* ]]; then
      return 0
    fi
    response=${response//$'\n'/ }
    log_line "podTerminate attempt $attempt failed: HTTP $status ${response:0:300}"
    sleep $((attempt * 2))
  done
  return 1
}

# shellcheck disable=SC2329 # runs in watchdog.sh (see start_watchdog)
job_started() {
  compgen -G "$runner_dir/_diag/Worker_*.log" >/dev/null
}

# shellcheck disable=SC2329 # runs in watchdog.sh (see start_watchdog)
watchdog_main() {
  local started now reason="" job_seen=0 runner_pid pause=10 exited_at=""
  started=$(date +%s)
  find_pod_credentials
  log_line "watchdog for pod $cfg_pod_id: mode $cfg_mode, lifetime ends at $cfg_deadline," \
    "idle timeout ${cfg_idle_timeout}s"
  while :; do
    now=$(date +%s)
    if ((now >= cfg_deadline)); then
      reason="the maximum lifetime has passed"
    elif [[ $cfg_mode == runner ]]; then
      if ((!job_seen)) && job_started; then
        job_seen=1
        log_line "a job started; the idle timeout no longer applies"
      fi
      runner_pid=$(pid_from "$work_dir/runner.pid")
      if [[ -n $runner_pid ]] && ! process_alive "$runner_pid"; then
        # Without a job, the starting action may still be reading why it exited.
        exited_at=${exited_at:-$now}
        if ((job_seen || now - exited_at >= RUNNER_EXIT_GRACE)); then
          reason="the runner exited"
        fi
      elif ((!job_seen && now - started >= cfg_idle_timeout)); then
        reason="no job started within the idle timeout"
      fi
    fi
    if [[ -n $reason ]]; then
      log_line "terminating pod $cfg_pod_id: $reason"
      if terminate_pod; then
        log_line "podTerminate accepted"
        exit 0
      fi
      # Keep trying: a pod left running costs money until something stops it.
      sleep "$pause"
      pause=$((pause * 2 > 300 ? 300 : pause * 2))
      reason=""
      continue
    fi
    sleep "$cfg_interval"
  done
}

setup_work_dir() {
  [[ -n ${HOME:-} && -d $HOME && -w $HOME ]] ||
    fail bad-home "the home directory '${HOME:-}' of $(id -un) is missing or not writable"
  work_dir=$HOME/runpod-ssh-action/${cfg_runner_name:-pod-$cfg_pod_id}
  runner_dir=$work_dir/runner
  mkdir -p "$work_dir" || fail bad-home "cannot create $work_dir"
  chmod 700 "$work_dir"
  if process_alive "$(pid_from "$work_dir/runner.pid")"; then
    fail already-running "a runner from an earlier bootstrap still runs in $work_dir"
  fi
}

require_tools() {
  local tool missing=()
  if ! command -v curl >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    {
      apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          curl ca-certificates
    } >>"$work_dir/bootstrap.log" 2>&1 || warn "installing curl with apt-get failed"
  fi
  local -a needed=(curl date sleep)
  [[ $cfg_mode == runner ]] && needed+=(tar sha256sum)
  for tool in "${needed[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) ||
    fail missing-tool "the pod lacks ${missing[*]} (needs bash, curl, tar and coreutils)"
}

start_watchdog() {
  local script=$work_dir/watchdog.sh existing
  existing=$(pid_from "$work_dir/watchdog.pid")
  if process_alive "$existing"; then
    watchdog_pid=$existing
    return 0
  fi
  # The watchdog outlives this session, so it gets a script file of its own: only
  # non-secret settings and functions; it looks the pod key up again itself.
  {
    printf '#!/usr/bin/env bash\n# Written by the runpod-ssh-action bootstrap.\nset -uo pipefail\n'
    declare -p cfg_mode cfg_pod_id cfg_api_url cfg_deadline cfg_idle_timeout cfg_interval \
      work_dir runner_dir RUNNER_EXIT_GRACE
    printf 'pod_key="" pod_env_id=""\n'
    declare -f log_line read_env_lines find_pod_credentials process_alive pid_from \
      terminate_pod job_started watchdog_main
    printf 'watchdog_main\n'
  } >"$script"
  detach "$work_dir/watchdog.pid" "$work_dir/watchdog.log" bash "$script" ||
    fail watchdog-failed "the watchdog did not start (see $work_dir/watchdog.log)"
  watchdog_pid=$(pid_from "$work_dir/watchdog.pid")
}

setup_runner_user() { # RUNNER_USER: the unprivileged user the runner runs as
  local uid gid group home tool rp_file=${RPSA_RP_ENVIRONMENT_FILE:-/etc/rp_environment}
  [[ $(id -u) -eq 0 ]] ||
    fail runner-user-needs-root "only root can create the runner user $cfg_runner_user and keep the pod key from it, and the login user is $(id -un)"
  for tool in setpriv getent useradd; do
    command -v "$tool" >/dev/null 2>&1 ||
      fail missing-tool "the pod lacks $tool, needed to run the runner as $cfg_runner_user"
  done
  if ! id -u "$cfg_runner_user" >/dev/null 2>&1; then
    useradd --create-home --user-group --shell /bin/bash "$cfg_runner_user" \
      >>"$work_dir/bootstrap.log" 2>&1 ||
      fail runner-user-failed "useradd could not create $cfg_runner_user: $(tail -n 1 "$work_dir/bootstrap.log")"
  fi
  uid=$(id -u "$cfg_runner_user") gid=$(id -g "$cfg_runner_user")
  ((uid != 0 && gid != 0)) || fail runner-user-privileged "$cfg_runner_user has user or group id 0"
  # Each of these groups is as good as root (sudo rules, the Docker socket, raw disks).
  for group in $(id -Gn "$cfg_runner_user"); do
    case $group in
      root | sudo | wheel | admin | docker | disk | lxd)
        fail runner-user-privileged "$cfg_runner_user is in the group $group"
        ;;
    esac
  done
  home=$(getent passwd "$cfg_runner_user" | cut -d: -f6)
  [[ -n $home && -d $home ]] || fail bad-home "the runner user $cfg_runner_user has no home directory"
  runner_home=$home
  runner_dir=$home/runpod-ssh-action/$cfg_runner_name/runner
  # no_new_privs: no setuid program (sudo, su) can make the job root again.
  as_runner=(setpriv "--reuid=$uid" "--regid=$gid" --init-groups --no-new-privs --)
  # RunPod's start script writes the file with the default umask, readable by all.
  if [[ -e $rp_file ]] && ! { chown root:root "$rp_file" && chmod 600 "$rp_file"; }; then
    fail runner-user-failed "could not make $rp_file readable by root only"
  fi
}

runner_environment() { # in a subshell: the environment every runner process starts from
  local name
  unset RUNPOD_API_KEY
  [[ -n $cfg_runner_user ]] || return 0
  for name in $(compgen -e); do
    case $name in
      PATH | LANG | LC_ALL | TZ) ;;
      *) unset "$name" 2>/dev/null || true ;;
    esac
  done
  export HOME=$runner_home USER=$cfg_runner_user LOGNAME=$cfg_runner_user SHELL=/bin/bash
}

run_as_runner() { # run_as_runner COMMAND...: as the runner's user, in its environment
  (
    runner_environment
    exec "${as_runner[@]}" "$@"
  )
}

runner_deps_missing() {
  if [[ -e $runner_dir/bin/libcoreclr.so ]] &&
    ldd "$runner_dir/bin/libcoreclr.so" 2>/dev/null | grep -q 'not found'; then
    return 0
  fi
  command -v ldconfig >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libicu
}

install_runner() {
  local tarball=$work_dir/runner.tar.gz actual
  # As the runner's user: root following links that user planted would be a hazard.
  run_as_runner rm -rf "$runner_dir"
  rm -f "$tarball"
  run_as_runner mkdir -p "$runner_dir"
  if ! curl --fail --silent --show-error --location --retry 5 --retry-delay 2 \
    --retry-connrefused --connect-timeout 20 --max-time 900 \
    --output "$tarball" "$cfg_runner_url" 2>"$work_dir/download.log"; then
    fail download-failed "could not download the runner from $cfg_runner_url: $(tail -n 1 "$work_dir/download.log")"
  fi
  if ! printf '%s  %s\n' "$cfg_runner_sha256" "$tarball" | sha256sum --check --status -; then
    actual=$(sha256sum "$tarball")
    rm -f "$tarball"
    fail checksum-mismatch "the runner from $cfg_runner_url has SHA-256 ${actual%% *}, expected $cfg_runner_sha256"
  fi
  run_as_runner tar -xzf - -C "$runner_dir" <"$tarball" 2>>"$work_dir/bootstrap.log" ||
    fail extract-failed "could not unpack the runner into $runner_dir (disk full?)"
  rm -f "$tarball"
  if [[ -x $runner_dir/bin/installdependencies.sh ]] && runner_deps_missing; then
    if [[ $(id -u) -eq 0 ]]; then
      "$runner_dir/bin/installdependencies.sh" >>"$work_dir/bootstrap.log" 2>&1 ||
        warn "the runner's installdependencies.sh failed; the runner may not start"
    else
      warn "the runner's libraries (libicu and others) seem missing and only root can install them"
    fi
  fi
}

configure_runner() {
  # --no-default-labels: without it config.sh adds self-hosted, Linux and X64, and any
  # job asking for runs-on: self-hosted could take this pod (actions/runner
  # src/Runner.Listener/Configuration/ConfigurationManager.cs).
  local -a args=(--unattended --ephemeral --disableupdate --no-default-labels
    --url "$cfg_github_url" --name "$cfg_runner_name")
  [[ -n $cfg_runner_labels ]] && args+=(--labels "$cfg_runner_labels")
  [[ -n $cfg_runner_group ]] && args+=(--runnergroup "$cfg_runner_group")
  args+=(--work _work)
  if ! (
    runner_environment
    cd "$runner_dir"
    export ACTIONS_RUNNER_INPUT_TOKEN=$cfg_registration_token
    exec "${as_runner[@]}" ./config.sh "${args[@]}"
  ) >>"$work_dir/config.log" 2>&1; then
    fail runner-refused "config.sh did not register the runner: $(tail -n 3 "$work_dir/config.log" | tr '\n' ' ')"
  fi
}

start_runner() {
  if [[ $(id -u) -eq 0 && -z $cfg_runner_user ]]; then
    export RUNNER_ALLOW_RUNASROOT=1
  fi
  [[ $cfg_registration == token ]] && configure_runner
  # The key stays out of the runner's environment; whether its job can reach the key
  # elsewhere depends on RUNNER_USER (see the header).
  if ! (
    runner_environment
    if [[ $cfg_registration == jit ]]; then
      export ACTIONS_RUNNER_INPUT_JITCONFIG=$cfg_jit_config
    fi
    cd "$runner_dir"
    # The pid file is written as root before the switch: the runner cannot forge it.
    detach "$work_dir/runner.pid" "$work_dir/runner.log" "${as_runner[@]}" ./run.sh
  ); then
    fail runner-start-failed "run.sh did not start (see $work_dir/runner.log)"
  fi
  runner_pid=$(pid_from "$work_dir/runner.pid")
  await_listening
}

runner_reason() { # the runner's own words for why it stopped, from its output
  local line reason=""
  while IFS= read -r line; do
    # "occured" too: older runners print it so (actions/runner #3266).
    [[ $line == *"An error occurred: "* || $line == *"An error occured: "* ]] &&
      reason=${line#*: }
  done <"$work_dir/runner.log"
  [[ -n $reason ]] || reason=$(tail -n 3 "$work_dir/runner.log" | tr '\n' ' ')
  printf '%s' "${reason:0:400}"
}

await_listening() { # until the runner listens for jobs, or has exited
  while :; do
    # Dead first: a runner refused right after listening has said so by then.
    process_alive "$runner_pid" || fail runner-exited "$(runner_reason)"
    grep -q 'Listening for Jobs' "$work_dir/runner.log" 2>/dev/null && return 0
    sleep 0.2
  done
}

runner_status() { # MODE=status: is the runner of RUNNER_NAME still running?
  [[ $cfg_runner_name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || fail config "bad runner name"
  work_dir=${HOME:-}/runpod-ssh-action/$cfg_runner_name
  runner_pid=$(pid_from "$work_dir/runner.pid")
  result_printed=1
  if [[ -z $runner_pid ]] || process_alive "$runner_pid"; then
    printf 'RPSA-RESULT ok watchdog_pid=0 runner_pid=%s work_dir=%s\n' "${runner_pid:--}" "$work_dir"
    exit 0
  fi
  fail runner-exited "$(runner_reason)"
}

main() {
  trap on_exit EXIT
  trap 'err_line=$LINENO' ERR
  command -v base64 >/dev/null 2>&1 || fail missing-tool "the pod lacks base64 (coreutils)"
  read_config
  exec </dev/null
  [[ $cfg_mode == status ]] && runner_status
  validate_config
  find_pod_credentials
  [[ -n $pod_key ]] ||
    fail no-pod-key "no pod-scoped RUNPOD_API_KEY in the session, ${RPSA_RP_ENVIRONMENT_FILE:-/etc/rp_environment} or PID 1's environment: the watchdog cannot terminate this pod"
  if [[ -n $pod_env_id && $pod_env_id != "$cfg_pod_id" ]]; then
    fail pod-mismatch "this machine is pod $pod_env_id, not $cfg_pod_id"
  fi
  setup_work_dir
  require_tools
  watchdog_pid="" runner_pid="-"
  [[ $cfg_mode == runner && -n $cfg_runner_user ]] && setup_runner_user
  start_watchdog
  if [[ $cfg_mode == runner ]]; then
    install_runner
    start_runner
  fi
  result_printed=1
  printf 'RPSA-RESULT ok watchdog_pid=%s runner_pid=%s work_dir=%s\n' \
    "$watchdog_pid" "$runner_pid" "$work_dir"
}

main "$@"; exit $?
