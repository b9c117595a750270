#!/bin/sh
# oci-bundle.sh DIR HOST_ID CMD [ARG...] - write an OCI bundle into DIR that runs CMD behind the
# same walls as spinup's bwrap command line: new user, mount, pid, network, ipc, uts and cgroup
# namespaces; root mapped to HOST_ID on the host; /usr bound read-only, and /bin, /lib, ...
# recreated as the host has them (usr-merged symlinks, or real dirs bound read-only); fresh
# /proc, /dev and /tmp; no terminal. spinup runs it at start; by hand:
#     benchmarks/oci-bundle.sh /tmp/b 1000000 /bin/true && crun run --bundle /tmp/b t1
set -eu
if [ $# -lt 3 ]; then
	echo "usage: $0 DIR HOST_ID CMD [ARG...]" >&2
	exit 2
fi
dir=$1 hostid=$2
shift 2
case $hostid in '' | *[!0-9]*)
	echo "$0: bad HOST_ID '$hostid'" >&2
	exit 2
	;;
esac

# A JSON string; arguments with control characters are refused rather than escaped.
json_str() {
	case $1 in *[[:cntrl:]]*)
		echo "$0: control character in '$1'" >&2
		exit 2
		;;
	esac
	printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"
}

mount_json() { # destination type source option...
	printf ',\n\t\t{ "destination": %s, "type": "%s", "source": %s, "options": [ ' \
		"$(json_str "$1")" "$2" "$(json_str "$3")"
	shift 3
	sep=
	for o; do
		printf '%s"%s"' "$sep" "$o"
		sep=', '
	done
	printf ' ] }'
}

umask 022
mkdir -p "$dir/rootfs/usr" "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/tmp"
binds=
for d in bin sbin lib lib32 lib64 libx32; do
	if [ -L "/$d" ]; then
		ln -sfn "$(readlink "/$d")" "$dir/rootfs/$d"
	elif [ -d "/$d" ]; then
		mkdir -p "$dir/rootfs/$d"
		binds="$binds$(mount_json "/$d" bind "/$d" rbind ro)"
	fi
done
args='' sep=''
for a; do
	args="$args$sep$(json_str "$a")"
	sep=', '
done

cat >"$dir/config.json.tmp" <<EOF
{
	"ociVersion": "1.0.2",
	"process": {
		"terminal": false,
		"user": { "uid": 0, "gid": 0 },
		"args": [ $args ],
		"env": [ "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" ],
		"cwd": "/",
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": true },
	"hostname": "spinup",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc", "options": [ "nosuid", "nodev", "noexec" ] },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "mode=755" ] },
		{ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "nodev" ] }$(mount_json /usr bind /usr rbind ro)$binds
	],
	"linux": {
		"uidMappings": [ { "containerID": 0, "hostID": $hostid, "size": 1 } ],
		"gidMappings": [ { "containerID": 0, "hostID": $hostid, "size": 1 } ],
		"namespaces": [ { "type": "user" }, { "type": "mount" }, { "type": "pid" },
			{ "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "cgroup" } ]
	}
}
EOF
mv "$dir/config.json.tmp" "$dir/config.json"
