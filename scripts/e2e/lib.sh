# Helpers for the e2e guest: reporting, deadlines, the target (tgtd), the initiator (open-iscsi),
# cstor-node and csictl. Sourced by main.sh and by every scenario (bash; /e2e/config first).
#
# Reporting: every check ends in exactly one `pass NAME` or `fail NAME WHY`. fail exits the current
# scenario (each runs in its own bash), because the steps after a failed one would only add noise.

OUT=/e2e/out
RESULTS=$OUT/results
STATE=/run/e2e                           # harness state: pids, target registry, LUN files (tmpfs)
SOCKET=/run/csi/csi.sock
ENDPOINT=unix://$SOCKET
KUBELET=/var/lib/kubelet
DRIVER=cstor.csi.openebs.io
PORTAL=127.0.0.1:3260
LUN=1                                    # cStor's data LUN; tgtd's LUN 0 is the controller
IQN_PREFIX=iqn.2016-09.com.openebs.cstor
SCEN=${SCEN:-setup}
PS4='+${SECONDS}s '

now() { local u; read -r u _ < /proc/uptime; echo "$u"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# One progress line: to the host (out/e2e.log, tailed live), the console (the timeline next to the
# kernel's messages) and stdout (the scenario's own log).
say() {
  local line
  line="[$(printf '%6.1f' "$(now)")] $*"
  echo "$line" >> "$OUT/e2e.log"
  echo "$line" > /dev/console
  echo "$line"
}

pass() { say "PASS $SCEN/$1${2:+ ($2)}"; echo "PASS $SCEN/$1" >> "$RESULTS"; }
fail() { say "FAIL $SCEN/$1: $2"; echo "FAIL $SCEN/$1: $2" >> "$RESULTS"; exit 1; }

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; false when the deadline passes.
wait_for() {
  local deadline=$(( SECONDS + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

alive() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
pid_of() { cat "$STATE/$1.pid" 2>/dev/null; }

# ---------------------------------------------------------------- target side (tgtd in the guest)
tgtadm_() { tgtadm --lld iscsi "$@"; }
iqn_of() { echo "$IQN_PREFIX:$1"; }

# The target registry: $STATE/targets/NAME holds the target's tid on its first line, then one line
# per LUN: "LUN FILE SCSI_ID". A LUN's SCSI id (tgtd's scsi_id, from which VPD page 0x83 and so the
# kernel's WWID are made) is unique per backing file, as a real cStor target's is per volume.
target_luns() {   # NAME -> "LUN FILE SCSI_ID" lines
  local name=$1
  if [ "$(wc -l < "$STATE/targets/$name")" -gt 1 ]; then tail -n +2 "$STATE/targets/$name"
  else echo "$LUN $STATE/luns/$name.img $(scsi_id_of "$STATE/luns/$name.img")"; fi
}
scsi_id_of() { printf %s "$1" | md5sum | cut -c1-16; }
target_names() { local f; for f in "$STATE"/targets/*; do [ -e "$f" ] && basename "$f"; done; }

# tgtd_start [LATE]: starts tgtd and defines the registered targets again; with LATE, only LATE
# seconds after tgtd listens (a target process that is back before its LUN: logins fail meanwhile).
tgtd_start() {
  setsid tgtd -f --iscsi "portal=$PORTAL" >> "$OUT/tgtd.log" 2>&1 < /dev/null &
  echo $! > "$STATE/tgtd.pid"
  wait_for 30 tgtadm_ --op show --mode sys || return 1
  [ -n "${1:-}" ] && sleep "$1"
  local name
  for name in $(target_names); do target_define "$name" || return 1; done
  return 0
}

tgtd_kill() {
  local pid; pid=$(pid_of tgtd)
  alive "$pid" && kill -KILL "$pid"
  wait_for 15 eval '! alive '"$pid"
}

tgtd_alive() { alive "$(pid_of tgtd)"; }

# A target per volume: tid from the registry, its LUNs backed by sparse files on tmpfs.
target_define() {
  local name=$1 tid lun file id; tid=$(head -n1 "$STATE/targets/$name")
  tgtadm_ --op new --mode target --tid "$tid" -T "$(iqn_of "$name")" || return 1
  while read -r lun file id; do
    tgtadm_ --op new --mode logicalunit --tid "$tid" --lun "$lun" -b "$file" &&
    tgtadm_ --op update --mode logicalunit --tid "$tid" --lun "$lun" --params "scsi_id=$id,scsi_sn=$id" || return 1
  done < <(target_luns "$name")
  tgtadm_ --op bind --mode target --tid "$tid" -I ALL
}

target_create() {   # NAME SIZE [LUN...]: one LUN ($LUN) by default, else the LUNs given, each SIZE
  local name=$1 size=$2 tid lun; shift 2
  tid=$(( $(cat "$STATE/next-tid" 2>/dev/null || echo 1) ))
  echo $(( tid + 1 )) > "$STATE/next-tid"
  mkdir -p "$STATE/targets" "$STATE/luns"
  echo "$tid" > "$STATE/targets/$name"
  if [ $# -eq 0 ]; then
    truncate -s "$size" "$STATE/luns/$name.img"
  else
    for lun in "$@"; do
      truncate -s "$size" "$STATE/luns/$name-$lun.img"
      echo "$lun $STATE/luns/$name-$lun.img $(scsi_id_of "$STATE/luns/$name-$lun.img")" >> "$STATE/targets/$name"
    done
  fi
  target_define "$name"
}

# target_replace_lun NAME FILE: the target's (only) LUN is backed by FILE from now on, with FILE's
# SCSI id: another disk behind the same IQN, portal and LUN (when tgtd defines the target again).
target_replace_lun() {
  local name=$1 file=$2 tid; tid=$(head -n1 "$STATE/targets/$name")
  printf '%s\n%s %s %s\n' "$tid" "$LUN" "$file" "$(scsi_id_of "$file")" > "$STATE/targets/$name"
}

# Grows the backing file and re-creates the LUN (tgtd reads the size only when a LUN is created).
# tgtd refuses to delete a LUN with commands in flight ("this logical unit is still active"; a
# freshly made ext4 keeps writing its inode tables for a while), so the delete is retried.
target_grow() {   # NAME SIZE
  local name=$1 size=$2 tid file id; tid=$(head -n1 "$STATE/targets/$name")
  read -r _ file id < <(target_luns "$name")
  truncate -s "$size" "$file" &&
  wait_for 30 tgtadm_ --op delete --mode logicalunit --tid "$tid" --lun "$LUN" &&
  tgtadm_ --op new --mode logicalunit --tid "$tid" --lun "$LUN" -b "$file" &&
  tgtadm_ --op update --mode logicalunit --tid "$tid" --lun "$LUN" --params "scsi_id=$id,scsi_sn=$id"
}

target_remove() {  # NAME
  local name=$1 tid file; tid=$(head -n1 "$STATE/targets/$name" 2>/dev/null) || return 0
  tgtd_alive && tgtadm_ --op delete --mode target --tid "$tid" --force
  while read -r _ file _; do rm -f "$file"; done < <(target_luns "$name")
  rm -f "$STATE/targets/$name"
}

# target_lun_mb NAME -> the LUN's size as tgtd reports it (MB, 10^6 bytes, rounded)
target_lun_mb() {
  local tid; tid=$(head -n1 "$STATE/targets/$1")
  tgtadm_ --op show --mode target | awk -v t="Target $tid:" -v l="LUN: $LUN" '
    index($0, t) == 1 { in_t = 1; next } /^Target / { in_t = 0 }
    in_t && index($0, l) { in_l = 1 } in_t && in_l && /Size:/ { print $2; exit }'
}
mb() { echo $(( ($1 + 500000) / 1000000 )); }

# ------------------------------------------------------------- initiator side (open-iscsi, udev)
# bypath_of TARGET [LUN]: udev's link; LUNs from 256 on are named in SAM's 8-byte hex form.
bypath_of() {
  local lun=${2:-$LUN} name
  if [ "$lun" -lt 256 ]; then name=$lun; else name=$(printf '0x%04x000000000000' $(( 0x4000 | lun ))); fi
  echo "/dev/disk/by-path/ip-$PORTAL-iscsi-$(iqn_of "$1")-lun-$name"
}
# session_id IQN -> the sid of the session to IQN (empty when none)
session_id() { iscsiadm -m session 2>/dev/null | awk -v q="$1" '$4 == q { gsub(/[][]/, "", $2); print $2 }'; }
# disk_of IQN LUN -> the disk (sdX) of a LUN of the session to IQN, from sysfs
disk_of() {
  local sid; sid=$(session_id "$1"); [ -n "$sid" ] || return 1
  local lun=$2; [ "$lun" -ge 256 ] && lun=$(( 0x4000 | lun ))
  ls /sys/class/iscsi_session/session"$sid"/device/target*/*:*:*:"$lun"/block 2>/dev/null | head -n1
}
session_count() { iscsiadm -m session 2>/dev/null | awk -v q="$1" '$4 == q' | wc -l; }
record_count() { iscsiadm -m node 2>/dev/null | awk -v q="$1" '$2 == q' | wc -l; }
record_value() {  # IQN KEY
  iscsiadm -m node -T "$1" -p "${VOL_PORTAL:-$PORTAL}" 2>/dev/null | awk -v k="$2" '$1 == k { print $3 }'
}
discovery_records() { iscsiadm -m discoverydb 2>/dev/null | grep -v 'No discovery' || true; }
devnum() { stat -L -c '%t %T' "$1" 2>/dev/null | { read -r a b && printf '%d:%d\n' "0x$a" "0x$b"; }; }
devsize() { blockdev --getsize64 "$1" 2>/dev/null; }

# ------------------------------------------------------------------------------- the mount table
# mount_info PATH -> "MAJ:MIN FSTYPE SOURCE MOUNT_OPTS SUPER_OPTS" of the top mount at PATH
mount_info() {
  awk -v p="$1" '$5 == p { for (i = 7; $i != "-"; i++); r = $3 " " $(i+1) " " $(i+2) " " $6 " " $(i+3) } END { if (r) print r }' /proc/self/mountinfo
}
mount_count() { awk -v p="$1" '$5 == p' /proc/self/mountinfo | wc -l; }
is_mounted() { [ "$(mount_count "$1")" -gt 0 ]; }
kubelet_mounts() { awk -v k="$KUBELET/" 'index($5, k) == 1 { print $5 }' /proc/self/mountinfo; }
# rejects_writes DIR: creating a file fails with EROFS. Needed besides is_readonly: Debian 12's
# kernel (6.1.1xx) no longer sets SB_RDONLY when ext4 aborts its journal ("Remounting filesystem
# read-only" in dmesg, yet mountinfo still says rw), so only a write tells.
rejects_writes() {
  # A new name each time: on an aborted ext4, touching a file that exists still "succeeds" (the
  # inode is dirtied without a journal handle), only creating or removing one fails.
  local err probe="$1/.e2e-write-probe-$$-$RANDOM"
  if err=$(timeout 20 touch "$probe" 2>&1); then
    err=$(timeout 20 rm -f "$probe" 2>&1) && return 1
  fi
  case $err in *"Read-only file system"*) return 0 ;; esac
  return 1
}
# read-only at either level: the mount (bind) or the superblock
is_readonly() {
  local info; info=$(mount_info "$1"); [ -n "$info" ] || return 1
  set -- $info
  case ",$4,$5," in *,ro,*) return 0 ;; esac
  return 1
}

# --------------------------------------------------------------------------------- cstor-node
# Flags the node gets. Optional ones are passed only when this build's --help lists them, so the
# harness also runs against builds that predate a flag (each omission is logged).
node_args_init() {
  local help flag value
  help=$(cstor-node --help 2>&1)
  local args=(--endpoint "$ENDPOINT" --node-id e2e-node --log-format json --log-level debug)
  local optional=(
    --kubelet-dir "$KUBELET"
    --iscsiadm iscsiadm
    --iscsi-replacement-timeout "$E2E_REPLACEMENT_TIMEOUT"
    --health-interval "$E2E_HEALTH_INTERVAL"
    --remount true
  )
  local lacks=()
  set -- "${optional[@]}"
  while [ $# -gt 0 ]; do
    flag=$1 value=$2; shift 2
    if grep -q -- "$flag\b" <<< "$help"; then args+=("$flag" "$value"); else lacks+=("$flag"); fi
  done
  [ ${#lacks[@]} -eq 0 ] || say "note: this cstor-node has no ${lacks[*]}; started without them"
  printf '%s\n' "${args[@]}" > "$STATE/node.args"
}

node_start() {
  local args; mapfile -t args < "$STATE/node.args"
  mkdir -p "$(dirname "$SOCKET")"
  echo "{\"e2e\":\"cstor-node starting at $(now)s: ${args[*]}\"}" >> "$OUT/node.log"
  setsid cstor-node "${args[@]}" >> "$OUT/node.log" 2>&1 < /dev/null &
  echo $! > "$STATE/node.pid"
  wait_for 60 csictl identity probe --endpoint "$ENDPOINT"
}

node_stop() {   # [SIGNAL]  (default TERM)
  local pid; pid=$(pid_of node)
  alive "$pid" || return 0
  echo "{\"e2e\":\"cstor-node: SIG${1:-TERM} at $(now)s\"}" >> "$OUT/node.log"
  kill "-${1:-TERM}" "$pid"
  wait_for 40 eval '! alive '"$pid"
}

node_alive() { alive "$(pid_of node)"; }

# ------------------------------------------------------------------------------------- csictl
# csi GROUP COMMAND ARGS...: one call with --endpoint, under the RPC deadline. Sets CSI_RC, CSI_OUT,
# CSI_ERR (stderr on one line) and CSI_TIME (seconds), and logs the exchange to the scenario log.
csi() {
  local t0; t0=$(now)
  CSI_OUT=$(timeout -k 5 "$E2E_RPC_DEADLINE" csictl "$1" "$2" --endpoint "$ENDPOINT" "${@:3}" 2> "$STATE/csictl.err")
  CSI_RC=$?
  CSI_ERR=$(tr '\n' ' ' < "$STATE/csictl.err"); CSI_ERR=${CSI_ERR% }
  CSI_TIME=$(since "$t0")
  [ "$CSI_RC" -eq 124 ] && CSI_ERR="no answer within ${E2E_RPC_DEADLINE}s"
  echo "csictl $* -> exit $CSI_RC in ${CSI_TIME}s; stdout: $CSI_OUT; stderr: $CSI_ERR"
  return "$CSI_RC"
}

# csi_ok CHECK GROUP COMMAND ARGS...: the call must succeed, else CHECK fails naming the error.
csi_ok() {
  local check=$1; shift
  csi "$@" || fail "$check" "csictl $1 $2 exited $CSI_RC: ${CSI_ERR:-no message}"
}

# ------------------------------------------------------------------- a test volume, kubelet-style
# vol_use NAME TARGET LUN [block] [PORTAL]: the paths kubelet would pass for volume NAME, a LUN of
# the target TARGET (which must exist), and the publish_context the controller would send.
vol_use() {
  VOL=$1; IQN=$(iqn_of "$2"); VOL_LUN=$3; MODE=${4:-mount}; VOL_PORTAL=${5:-$PORTAL}
  BYPATH=$(bypath_of "$2" "$VOL_LUN")
  local pod; pod=$(cat /proc/sys/kernel/random/uuid)
  if [ "$MODE" = block ]; then
    STAGING=$KUBELET/plugins/kubernetes.io/csi/volumeDevices/staging/$VOL
    TARGET=$KUBELET/plugins/kubernetes.io/csi/volumeDevices/publish/$VOL/$pod
    VOLARGS=(--block)
  else
    STAGING=$KUBELET/plugins/kubernetes.io/csi/$DRIVER/$(printf %s "$VOL" | sha256sum | cut -d' ' -f1)/globalmount
    TARGET=$KUBELET/pods/$pod/volumes/kubernetes.io~csi/$VOL/mount
    VOLARGS=()
  fi
  mkdir -p "$STAGING" "$(dirname "$TARGET")"     # kubelet makes these; the node makes TARGET itself
  PCTX=(--publish-context transport=iscsi --publish-context "iqn=$IQN" --publish-context "portal=$VOL_PORTAL"
        --publish-context "lun=$VOL_LUN")
}

# vol_init NAME SIZE [block]: a target of its own for the volume (LUN $LUN), and its paths.
vol_init() {
  vol_use "$1" "$1" "$LUN" "${3:-mount}"
  target_create "$VOL" "$2" || fail "target" "tgtadm could not create the target for $VOL"
}

# vol_save / vol_load NAME: keep and restore the variables of one volume (scenarios with several).
vol_save() {   # plain assignments, so that vol_load (a function) sets globals
  declare -p VOL IQN VOL_LUN MODE VOL_PORTAL BYPATH STAGING TARGET VOLARGS PCTX | sed 's/^declare -[^ ]* //' > "$STATE/vol-$VOL"
}
vol_load() { . "$STATE/vol-$1"; }

# node_restart_with FLAG VALUE: cstor-node again with one flag changed (until node_args_init).
node_restart_with() {
  local flag=$1 value=$2 args i
  mapfile -t args < "$STATE/node.args"
  for i in "${!args[@]}"; do [ "${args[$i]}" = "$flag" ] && args[$((i + 1))]=$value; done
  printf '%s\n' "${args[@]}" > "$STATE/node.args"
  node_stop TERM && node_start
}

# A holder of a file, as a pod's container holds its volume: in a private mount namespace of its own
# (unshare), or in the node's own (its working directory and an open file inside the mount).
holder_start() {   # FILE private|shared
  local ns=()
  [ "$2" = private ] && ns=(unshare --mount --propagation private)
  setsid "${ns[@]}" sh -c 'cd "$(dirname "$0")" && exec 3<"$0" && echo ready > "$1" && exec sleep 600' \
    "$1" "$STATE/holder.ready" < /dev/null > /dev/null 2>&1 &
  echo $! > "$STATE/holder.pid"
  wait_for 20 test -s "$STATE/holder.ready"
}
holder_stop() {
  local pid; pid=$(pid_of holder); rm -f "$STATE/holder.ready"
  alive "$pid" && kill -KILL "$pid"
  wait_for 15 eval '! alive '"$pid"
}

stage()     { csi node stage --volume-id "$VOL" --staging-path "$STAGING" "$@" "${PCTX[@]}"; }
publish()   { csi node publish --volume-id "$VOL" --staging-path "$STAGING" --target-path "$TARGET" "$@" "${PCTX[@]}"; }
unpublish() { csi node unpublish --volume-id "$VOL" --target-path "$TARGET"; }
unstage()   { csi node unstage --volume-id "$VOL" --staging-path "$STAGING"; }

# ------------------------------------------------------------------- expectations on the guest
# Each takes the check name and fails it with the first thing that is wrong.

expect_attached() {   # CHECK: one session, a manual node record, the by-path link, no discovery
  local n; n=$(session_count "$IQN")
  [ "$n" -eq 1 ] || fail "$1" "$n iSCSI sessions to $IQN, wanted 1"
  n=$(record_count "$IQN")
  [ "$n" -eq 1 ] || fail "$1" "$n node records for $IQN, wanted 1"
  local startup; startup=$(record_value "$IQN" node.startup)
  [ "$startup" = manual ] || fail "$1" "node record has node.startup=$startup, wanted manual"
  if grep -qx -- --iscsi-replacement-timeout "$STATE/node.args"; then
    local rt want; rt=$(record_value "$IQN" node.session.timeo.replacement_timeout)
    want=$(awk 'p { print; exit } $0 == "--iscsi-replacement-timeout" { p = 1 }' "$STATE/node.args")
    [ "$rt" = "$want" ] || fail "$1" "node record has replacement_timeout=$rt, wanted $want (the node's flag)"
  fi
  # udev names the link after the connection's address: a hostname portal may show either way.
  [ -b "$BYPATH" ] || BYPATH=$(ls -d /dev/disk/by-path/ip-*-iscsi-"$IQN"-lun-"${BYPATH##*-lun-}" 2>/dev/null | head -n1)
  [ -b "$BYPATH" ] || fail "$1" "no block device at $BYPATH"
  [ -z "$(discovery_records)" ] || fail "$1" "SendTargets discovery records exist: $(discovery_records | tr '\n' ' ')"
}

expect_fs_mount() {   # CHECK PATH FSTYPE [rw|ro]
  local info; info=$(mount_info "$2")
  [ -n "$info" ] || fail "$1" "nothing is mounted at $2"
  local majmin fstype src mopts sopts; read -r majmin fstype src mopts sopts <<< "$info"
  [ "$fstype" = "$3" ] || fail "$1" "$2 has $fstype, wanted $3"
  local want; want=$(devnum "$BYPATH")
  [ "$majmin" = "$want" ] || fail "$1" "$2 is mounted from $src ($majmin), not from the volume $BYPATH ($want)"
  [ "$(mount_count "$2")" -eq 1 ] || fail "$1" "$(mount_count "$2") mounts stacked at $2, wanted 1"
  case "${4:-rw}" in
    rw) ! is_readonly "$2" || fail "$1" "$2 is read-only ($mopts / $sopts)" ;;
    ro) is_readonly "$2" || fail "$1" "$2 is writable ($mopts / $sopts), wanted read-only" ;;
  esac
}

expect_block_target() {   # CHECK: TARGET is the volume's block device, bind-mounted once
  [ -b "$TARGET" ] || fail "$1" "$TARGET is not a block device"
  [ "$(devnum "$TARGET")" = "$(devnum "$BYPATH")" ] ||
    fail "$1" "$TARGET is device $(devnum "$TARGET"), the volume is $(devnum "$BYPATH")"
  [ "$(mount_count "$TARGET")" -eq 1 ] || fail "$1" "$(mount_count "$TARGET") mounts at $TARGET, wanted 1"
}

expect_unpublished() {   # CHECK
  ! is_mounted "$TARGET" || fail "$1" "$TARGET is still mounted"
  [ ! -e "$TARGET" ] || fail "$1" "$TARGET still exists (the node must remove what it created)"
}

expect_detached() {   # CHECK: no mount, no session, no node record, no device link
  ! is_mounted "$STAGING" || fail "$1" "$STAGING is still mounted"
  ! is_mounted "$TARGET" || fail "$1" "$TARGET is still mounted"
  local n; n=$(session_count "$IQN")
  [ "$n" -eq 0 ] || fail "$1" "$n iSCSI sessions to $IQN remain (not logged out)"
  n=$(record_count "$IQN")
  [ "$n" -eq 0 ] || fail "$1" "the node record for $IQN remains"
  wait_for 20 test ! -e "$BYPATH" || fail "$1" "$BYPATH still exists 20 s after logout"
}

# write_data CHECK DIR: 4 MiB of random data, synced; its checksum kept for verify_data.
write_data() {
  dd if=/dev/urandom of="$2/e2e-data" bs=1M count=4 conv=fsync status=none 2>"$STATE/dd.err" ||
    fail "$1" "writing $2/e2e-data failed: $(cat "$STATE/dd.err")"
  md5sum < "$2/e2e-data" > "$STATE/$VOL.md5"
}
verify_data() {   # CHECK DIR
  [ -f "$2/e2e-data" ] || fail "$1" "$2/e2e-data is missing"
  [ "$(md5sum < "$2/e2e-data")" = "$(cat "$STATE/$VOL.md5")" ] || fail "$1" "$2/e2e-data has changed"
}

# stats_ok CHECK PATH: NodeGetVolumeStats answers with byte totals and a normal condition.
stats_ok() {
  csi_ok "$1" node stats --volume-id "$VOL" --volume-path "$2" --staging-path "$STAGING" --json
  local total abnormal
  total=$(jq -r '[.usage[]? | select(.unit == "BYTES") | .total | tonumber][0] // 0' <<< "$CSI_OUT") ||
    fail "$1" "stats output is not the JSON expected: $CSI_OUT"
  abnormal=$(jq -r '.volume_condition.abnormal // false' <<< "$CSI_OUT")
  [ "$total" -gt 0 ] || fail "$1" "no BYTES usage with a total in $CSI_OUT"
  [ "$abnormal" = false ] || fail "$1" "volume condition abnormal: $(jq -c '.volume_condition' <<< "$CSI_OUT")"
}

# The steps of a plain lifecycle, each one check; FS is ext4|xfs|block.
step_stage() {   # CHECK FS [extra stage args]
  local check=$1 fs=$2; shift 2
  if [ "$fs" = block ]; then csi_ok "$check" node stage --volume-id "$VOL" --staging-path "$STAGING" --block "$@" "${PCTX[@]}"
  else csi_ok "$check" node stage --volume-id "$VOL" --staging-path "$STAGING" --fs "$fs" "$@" "${PCTX[@]}"; fi
  local t=$CSI_TIME
  expect_attached "$check"
  [ "$fs" = block ] || expect_fs_mount "$check" "$STAGING" "$fs"
  pass "$check" "${t}s"
}

step_publish() {   # CHECK FS [extra publish args]
  local check=$1 fs=$2; shift 2
  if [ "$fs" = block ]; then csi_ok "$check" node publish --volume-id "$VOL" --staging-path "$STAGING" --target-path "$TARGET" --block "$@" "${PCTX[@]}"
  else csi_ok "$check" node publish --volume-id "$VOL" --staging-path "$STAGING" --target-path "$TARGET" --fs "$fs" "$@" "${PCTX[@]}"; fi
  local t=$CSI_TIME
  if [ "$fs" = block ]; then expect_block_target "$check"; else expect_fs_mount "$check" "$TARGET" "$fs"; fi
  pass "$check" "${t}s"
}

step_unpublish() {   # CHECK
  csi_ok "$1" node unpublish --volume-id "$VOL" --target-path "$TARGET"
  expect_unpublished "$1"
  pass "$1" "${CSI_TIME}s"
}

step_unstage() {   # CHECK
  csi_ok "$1" node unstage --volume-id "$VOL" --staging-path "$STAGING"
  local t=$CSI_TIME
  expect_detached "$1"
  pass "$1" "${t}s"
}
