#!/bin/bash
# The e2e harness inside the guest: brings up udev, tgtd, iscsid and cstor-node (each a named setup
# check), runs the selected scenarios one by one under their deadlines, resets the guest between
# them, and exits 0 only when every check passed. Verbose output: /e2e/out/guest.log.
set -u -o pipefail
. /e2e/config
. /e2e/guest/lib.sh
exec >> "$OUT/guest.log" 2>&1
mkdir -p "$STATE"
: > "$RESULTS"
SCEN=setup
say "guest up: $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, accel $E2E_ACCEL"

# Run setup steps in a subshell so that `fail` ends only this function's work, not PID 1's child.
setup() {
  t0=$(now)
  ip link set lo up || fail lo "cannot bring up lo"
  hostname e2e
  mkdir -p /opt/cstor-csi/bin "$KUBELET" "$STATE/luns"
  mount -t tmpfs -o size=3g tmpfs "$STATE/luns"       # sparse LUN files: only written blocks use RAM
  # The binaries come over 9p; a local copy makes every later start (csictl runs often) quick.
  cp /e2e/bin/cstor-node /e2e/bin/csictl /opt/cstor-csi/bin/ || fail binaries "cannot copy the binaries from the 9p share"
  local v; v=$(cstor-node --version 2>&1) || fail binaries "cstor-node --version failed: $v"
  csictl --version > /dev/null 2>&1 || fail binaries "csictl --version failed: $(csictl --version 2>&1)"
  pass binaries "cstor-node $v, copied in $(since "$t0")s"

  t0=$(now)
  /lib/systemd/systemd-udevd --daemon || fail udev "systemd-udevd did not start"
  # Only what the tests need: a full coldplug loads drm, floppy and the like for nothing.
  udevadm trigger --action=add --subsystem-match=block --subsystem-match=scsi --subsystem-match=virtio
  udevadm settle --timeout=60 || fail udev "udevadm settle timed out"
  pass udev "$(since "$t0")s"

  t0=$(now)
  modprobe -a iscsi_tcp sd_mod || fail modules "modprobe iscsi_tcp sd_mod failed"
  pass modules "$(since "$t0")s"

  t0=$(now)
  tgtd_start || fail tgtd "tgtd did not answer tgtadm within 30 s (see out/tgtd.log)"
  pass tgtd "portal $PORTAL, $(since "$t0")s"

  t0=$(now)
  setsid iscsid -f >> "$OUT/iscsid.log" 2>&1 < /dev/null &
  echo $! > "$STATE/iscsid.pid"
  wait_for 30 eval "ss -xlp | grep -q ISCSIADM_ABSTRACT_NAMESPACE" ||
    fail iscsid "iscsid does not listen on its control socket (see out/iscsid.log)"
  pass iscsid "$(since "$t0")s"

  t0=$(now)
  node_args_init
  cp "$STATE/node.args" "$STATE/node.args.orig"
  node_start || fail cstor-node "cstor-node does not answer csictl identity probe within 60 s (see out/node.log)"
  pass cstor-node "serving $ENDPOINT, ready in $(since "$t0")s"
}

# After each scenario: whatever it left is cleaned (and named), so the next one starts fresh.
reset_guest() {
  local left=() m stopped=0
  tgtd_alive || { tgtd_start || say "reset: tgtd does not start"; }
  [ -e "$STATE/holder.pid" ] && { holder_stop; rm -f "$STATE/holder.pid"; left+=("a holder process"); }
  [ -e "$STATE/writer.pid" ] && { kill -KILL "$(pid_of writer)" 2>/dev/null; rm -f "$STATE/writer.pid"; left+=("the writer"); }
  # Anything left behind: the node goes first (its monitor would repair what is cleaned here, and
  # its records of a failed scenario's volumes would keep it repairing volumes whose targets are
  # gone), and starts again with its own flags and no state.
  if [ -n "$(kubelet_mounts)" ] || [ -n "$(iscsiadm -m session 2>/dev/null)" ] || [ -n "$(iscsiadm -m node 2>/dev/null)" ] ||
     [ -n "$(ls "$KUBELET/plugins/$DRIVER/volumes" 2>/dev/null)" ] || ! cmp -s "$STATE/node.args" "$STATE/node.args.orig"; then
    node_stop TERM || node_stop KILL
    stopped=1
    cmp -s "$STATE/node.args" "$STATE/node.args.orig" || { left+=("cstor-node flags"); cp "$STATE/node.args.orig" "$STATE/node.args"; }
    [ -n "$(ls "$KUBELET/plugins/$DRIVER/volumes" 2>/dev/null)" ] &&
      left+=("the node's records: $(ls "$KUBELET/plugins/$DRIVER/volumes" | tr '\n' ' ')")
    rm -rf "$KUBELET/plugins/$DRIVER/volumes"
  fi
  for m in $(kubelet_mounts | sort -r); do umount -l "$m" && left+=("mount $m"); done
  if [ "$(iscsiadm -m session 2>/dev/null | wc -l)" -gt 0 ]; then
    left+=("sessions: $(iscsiadm -m session 2>/dev/null | awk '{print $4}' | tr '\n' ' ')")
    timeout 60 iscsiadm -m node --logoutall=all
  fi
  if [ -n "$(iscsiadm -m node 2>/dev/null)" ]; then left+=("node records"); timeout 30 iscsiadm -m node -o delete; fi
  for m in $(target_names); do target_remove "$m"; done
  rm -rf "$KUBELET/pods" "$KUBELET/plugins/kubernetes.io"
  if ! node_alive; then
    [ "$stopped" -eq 1 ] || left+=("cstor-node was not running")
    node_start || say "reset: cstor-node does not start"
  fi
  [ ${#left[@]} -eq 0 ] || say "reset after $1: cleaned up ${left[*]}"
}

( setup )
setup_rc=$?

if [ "$setup_rc" -eq 0 ]; then
  for n in $E2E_ONLY; do
    file=$(ls /e2e/guest/scenarios/"$n"-*.sh 2>/dev/null | head -n1)
    if [ -z "$file" ]; then SCEN=scenario-$n; ( fail missing "there is no scenario $n" ); continue; fi
    name=$(basename "$file" .sh); name=${name#*-}
    deadline=$(sed -n 's/^# deadline: *\([0-9]*\).*/\1/p' "$file"); deadline=${deadline:-$E2E_SCENARIO_DEADLINE}
    say "== scenario $n: $name (deadline ${deadline}s)"
    t0=$(now)
    SCEN=$name timeout -k 10 "$deadline" bash -c '. /e2e/config; . /e2e/guest/lib.sh; . "$1"' \
      _ "$file" > "$OUT/scenario-$n-$name.log" 2>&1 < /dev/null
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      SCEN=$name; ( fail deadline "the scenario did not finish within ${deadline}s (see out/scenario-$n-$name.log)" )
    elif [ "$rc" -ne 0 ] && ! tail -n1 "$RESULTS" | grep -q "^FAIL $name/"; then
      SCEN=$name; ( fail exit "the scenario exited $rc without naming a failed check (see out/scenario-$n-$name.log)" )
    fi
    say "== scenario $n: $name $([ "$rc" -eq 0 ] && echo ok || echo FAILED) in $(since "$t0")s"
    reset_guest "$name" >> "$OUT/guest.log" 2>&1
  done
fi

SCEN=summary
node_stop TERM || say "cstor-node did not stop on SIGTERM within 40 s"
dmesg > "$OUT/dmesg.log" 2>&1
passed=$(grep -c '^PASS ' "$RESULTS")
failed=$(grep -c '^FAIL ' "$RESULTS")
say "guest: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
