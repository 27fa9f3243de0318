# sshd on loopback addresses for the benchmarks, and ssh_config blocks
# reaching it (sourced by run.sh and ../agent/run.sh). Uses the caller's
# globals: W (scratch dir, with W/sshd holding the keys), port, host_key,
# sshd (the binary), pids (started processes), cg (a cgroup, or empty).

# sshd_keys: W/sshd with a host key and a client key the sshds accept, and
# the globals `port` (a free one on 127.0.0.1) and `host_key`.
sshd_keys() {
  mkdir -p /run/sshd "$W/sshd"
  chmod 755 "$W" "$W/sshd"
  ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/sshd/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/sshd/client_ed25519"
  cp "$W/sshd/client_ed25519.pub" "$W/sshd/authorized_keys"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  host_key=$(cut -d' ' -f1,2 "$W/sshd/host_ed25519.pub")
}

# start_sshd IP [HOME]: an sshd on IP:$port. `SetEnv SHLVL=1` keeps root's
# bash start-up files from running (as in the reference measurements);
# HOME gives a "host" a home of its own (lock, agent cache, target dir).
start_sshd() {
  local ip=$1 home=${2:-} cfg="$W/sshd/sshd_config.$1"
  {
    printf 'Port %s\nListenAddress %s\nHostKey %s\nPidFile %s\n' "$port" "$ip" "$W/sshd/host_ed25519" "$W/sshd/sshd.$ip.pid"
    printf 'AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n' "$W/sshd/authorized_keys"
    printf 'KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n'
    printf 'MaxStartups 100:30:200\nMaxSessions 100\nLogLevel ERROR\n'
    if [ -n "$home" ]; then printf 'SetEnv SHLVL=1 HOME=%s\n' "$home"; else printf 'SetEnv SHLVL=1\n'; fi
  } >"$cfg"
  "$sshd" -D -e -f "$cfg" 2>>"$W/sshd/sshd.log" &
  pids+=($!)
  if [ -n "$cg" ]; then echo $! >"$cg/cgroup.procs"; fi
  printf '[%s]:%s %s\n' "$ip" "$port" "$host_key" >>"$W/sshd/known_hosts"
  local i
  for i in $(seq 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$ip/$port && head -c4 <&3" 2>/dev/null | grep -q SSH-; then return 0; fi
    sleep 0.05
  done
  die "sshd on $ip:$port did not start: $(cat "$W/sshd/sshd.log")"
}

# ssh_block ALIAS IP [PROXY]
ssh_block() {
  printf 'Host %s\n  HostName %s\n  Port %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n' "$1" "$2" "$port" "$W/sshd/client_ed25519"
  printf '  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n' "$W/sshd/known_hosts"
  if [ -n "${3:-}" ]; then printf '  ProxyCommand %s\n' "$3"; fi
}

