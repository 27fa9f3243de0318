# Generates the two deployment projects of the deploy benchmark (sourced
# by run.sh): the same workload for Python batou 2.7.1 and for this
# rebuild — one component `files` writing COUNT files from file.conf (11
# lines: a loop, the host name, the environment name and COUNT) into four
# subdirectories of OUTDIR, plus the directories, deployed to host `bench`
# over ssh (the alias is resolved through the project's `ssh_config`).
#
# `revision` is an attribute the template prints in every file; the
# "template change" case flips it in the environment for both tools, so
# every file's content changes while the deployment code stays the same.

# write_batou_project DIR VENV TARGET_DIR OUTDIR COUNT SSH_CONFIG
write_batou_project() {
  local dir=$1 venv=$2 target=$3 outdir=$4 count=$5 ssh_config=$6
  mkdir -p "$dir/environments/bench" "$dir/components/files"
  cp "$ssh_config" "$dir/ssh_config"
  printf '{"migration": {"version": 2400}}\n' >"$dir/.batou.json"
  printf 'batou==2.7.1\n' >"$dir/requirements.txt"
  # Pinned to what the controller's venv holds, so the target builds the
  # same set (once per sitting; the "cold" row).
  "$venv/bin/pip" freeze --all 2>/dev/null | grep -v -e '^pip==' -e '^setuptools==' >"$dir/requirements.lock"
  cat >"$dir/appenv" <<'EOF'
#!/bin/sh
# A stand-in for batou's appenv launcher (the PyPI package `appenv` is an
# unrelated tool): builds .appenv/<hash of requirements.lock> once, then
# runs `appenv python ARGS` or `batou ARGS` (when started as ./batou) in it.
set -e
base=$(cd "$(dirname "$0")" && pwd)
hash=$(sha256sum "$base/requirements.lock" | cut -c1-16)
venv=$base/.appenv/$hash
# Built in place (a venv cannot be moved); `.complete` marks a finished one.
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$base/requirements.lock" >&2
  touch "$venv/.complete"
fi
case $(basename "$0") in
  appenv) cmd=$1; shift ;;
  *) cmd=$(basename "$0") ;;
esac
case $cmd in
  python) exec "$venv/bin/python" "$@" ;;
  batou) APPENV_BASEDIR=$base; export APPENV_BASEDIR; exec "$venv/bin/batou" "$@" ;;
  *) echo "appenv stand-in: unknown command $cmd" >&2; exit 2 ;;
esac
EOF
  chmod +x "$dir/appenv"
  ln -sf appenv "$dir/batou"
  cp "$here/file.conf" "$dir/components/files/file.conf"
  cat >"$dir/components/files/component.py" <<'EOF'
from batou.component import Attribute, Component
from batou.lib.file import Directory, File


class Files(Component):
    """COUNT files from file.conf in four subdirectories of OUTDIR."""

    count = Attribute(int, 1)
    outdir = Attribute(str, "out")
    revision = Attribute(str, "A")

    def configure(self):
        self += Directory(self.outdir)
        for k in range(4):
            self += Directory("{}/d{}".format(self.outdir, k))
        for i in range(self.count):
            self += File(
                "{}/d{}/file-{:05d}.conf".format(self.outdir, i % 4, i),
                source="file.conf",
                template_args={"index": i},
            )
EOF
  cat >"$dir/environments/bench/environment.cfg" <<EOF
[environment]
connect_method = ssh
update_method = rsync
service_user = root
target_directory = $target

[hosts]
bench = files

[component:files]
count = $count
outdir = $outdir
revision = A
EOF
}

# write_ours_project DIR TARGET_DIR OUTDIR COUNT SSH_CONFIG [HOSTS...]
# With HOSTS, each of them gets the component (the many-hosts case), and
# paths are relative: every host has its own HOME there.
write_ours_project() {
  local dir=$1 target=$2 outdir=$3 count=$4 ssh_config=$5
  shift 5
  mkdir -p "$dir/environments/bench"
  cp "$ssh_config" "$dir/ssh_config"
  local hosts="bench = files" settings
  if [ $# -gt 0 ]; then
    hosts=$(for h in "$@"; do printf '%s = files\n' "$h"; done)
    # ~ is each host's own HOME (sshd's SetEnv), as on separate machines.
    settings="target_directory = ~/deployment"
  else
    settings="target_directory = $target/deployment
agent_cache = $target/agents
deploy_lock = $target/deploy.lock"
  fi
  # BENCH_SETTINGS: more [environment] lines (e.g. `revert = false`, to
  # measure what recording undo costs).
  settings="$settings
${BENCH_SETTINGS:-}"
  cat >"$dir/environments/bench/environment.cfg" <<EOF
[environment]
connect_method = ssh
service_user = root
$settings

[hosts]
$hosts

[component:files]
count = $count
outdir = $outdir
revision = A
EOF
}

# set_attr PROJECT KEY VALUE: rewrites `KEY = ...` in [component:files].
set_attr() {
  sed -i "s|^$2 = .*|$2 = $3|" "$1/environments/bench/environment.cfg"
}

# get_attr PROJECT KEY
get_attr() {
  sed -n "s|^$2 = ||p" "$1/environments/bench/environment.cfg"
}
