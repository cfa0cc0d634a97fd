# Scenario 5: target lost under a pod's container until ext4 refuses writes; the monitor recovers
# the volume once the pod is gone
# The target goes away under a mounted ext4 volume (tgtd killed) while a pod's container holds it (a
# process with a file open in a private mount namespace of its own), until the replacement timeout
# fails the I/O and the filesystem turns read-only. While the container holds it, the node must not
# touch it: no logout, nothing unmounted, no write through the target path reaching the node's own
# disk, and the volume condition abnormal, naming the cause and the pod. The target comes back; the
# container goes; the node's read-only remount monitor must then recover the volume by itself:
# session logged in, staging and target mounts writable again, the data written before the fault
# intact, volume condition normal (before Linux 6.5: once the volume is unpublished, see below).
# deadline: 480

RECOVERY_DEADLINE=$(( 6 * E2E_HEALTH_INTERVAL + 90 ))
vol_init pvc-e2e-fault 1G
step_stage stage ext4
step_publish publish ext4
write_data write "$TARGET"; pass write
# The pod's container: its own copy of the target's mount, a file of the volume open in it.
holder_start "$TARGET/e2e-data" private || fail held "the holder did not start"
holder=$(pid_of holder)
sid=$(session_id "$IQN")
log_start=$(wc -l < "$OUT/node.log")
# The target's own directory on the node's disk, without what is mounted on it: a write through
# the target path that reached the node's disk would show there.
view=$STATE/target-parent-view
mkdir -p "$view" && mount --bind "$(dirname "$TARGET")" "$view" || fail held "cannot bind $(dirname "$TARGET") to $view"
trap 'umount "$view" 2>/dev/null' EXIT

t0=$(now)
tgtd_kill || fail target-down "tgtd did not die on SIGKILL"
# Keep writing so the failed I/O reaches ext4: after the replacement timeout the SCSI layer fails the
# commands, the journal aborts and the superblock goes read-only.
i=0
ro_deadline=$(( SECONDS + E2E_REPLACEMENT_TIMEOUT + 90 ))
# The pod's view decides: the target refuses writes (the filesystem went read-only, or the node
# already took it off and put its read-only placeholder there).
until is_readonly "$STAGING" || rejects_writes "$STAGING" || rejects_writes "$TARGET"; do
  [ "$SECONDS" -lt "$ro_deadline" ] ||
    fail goes-readonly "$STAGING still writable $(since "$t0")s after the target went away"
  i=$((i + 1))
  timeout 20 sh -c "echo $i > '$TARGET/during-fault-$i' && sync -f '$TARGET'" 2>/dev/null
  sleep 1
done
dev=$(basename "$(readlink -f "$BYPATH")")
echo "diagnostics: /sys/fs/ext4/$dev/errors_count=$(cat /sys/fs/ext4/$dev/errors_count 2>/dev/null); mountinfo: $(mount_info "$STAGING")"
how="mount table says ro"
is_readonly "$STAGING" || how="writes fail with EROFS, mount table still says rw"
[ "$(mount_info "$TARGET" | cut -d' ' -f3)" = cstor-csi-repairing ] && how="the node took the filesystem off; the target holds its read-only placeholder"
pass goes-readonly "$(since "$t0")s after the target went away: $how"

# While the container holds it: reported with the cause and the pod, nothing touched.
pod=$(basename "$(dirname "$(dirname "$(dirname "$(dirname "$TARGET")")")")")
condition_held() {
  csi node stats --volume-id "$VOL" --volume-path "$TARGET" --staging-path "$STAGING" --json &&
  [ "$(jq -r '.volume_condition.abnormal // false' <<< "$CSI_OUT")" = true ] &&
  jq -r '.volume_condition.message // ""' <<< "$CSI_OUT" | grep -q "cannot be repaired while pods hold it"
}
wait_for $(( 3 * E2E_HEALTH_INTERVAL + 30 )) condition_held ||
  fail held-reported "no abnormal condition saying pods hold the volume $(since "$t0")s after the target went away: $CSI_OUT"
message=$(jq -r '.volume_condition.message' <<< "$CSI_OUT")
grep -q "$pod" <<< "$message" || fail held-reported "the condition does not name the pod $pod: $message"
grep -Eq "transport-offline|refuses writes|error|read-only" <<< "$message" || fail held-reported "the condition does not give the cause: $message"
pass held-reported "$(cut -c1-200 <<< "$message")"

# held_untouched CHECK: both mounts still there, the same session, no logout in the node's log, and
# a write through the target path (the node's view and the container's) fails without reaching the
# node's disk.
held_untouched() {
  is_mounted "$STAGING" && is_mounted "$TARGET" || fail "$1" "unmounted while the container holds it: staging $(mount_info "$STAGING"), target $(mount_info "$TARGET")"
  [ "$(session_id "$IQN")" = "$sid" ] || fail "$1" "the session changed from $sid to '$(session_id "$IQN")' while the container holds the volume"
  local logouts; logouts=$(tail -n +"$(( log_start + 1 ))" "$OUT/node.log" | grep '"msg":"[^"]*logging out' | grep -F "$IQN")
  [ -z "$logouts" ] || fail "$1" "the node logged out while the container holds the volume: $(tail -n1 <<< "$logouts")"
  timeout 20 sh -c "echo canary > '$TARGET/e2e-canary'" 2>/dev/null && fail "$1" "a write through $TARGET succeeded"
  timeout 20 nsenter -t "$holder" -m sh -c "echo canary > '$TARGET/e2e-canary'" 2>/dev/null && fail "$1" "a write in the container succeeded"
  [ -z "$(ls -A "$view/mount" 2>&1)" ] || fail "$1" "the node's disk under $TARGET holds: $(ls -A "$view/mount" 2>&1)"
  alive "$holder" || fail "$1" "the container's process died"
}
held_untouched held-untouched; pass held-untouched "session $sid kept, both mounts kept, writes refused, nothing on the node's disk"

# The target returns the way a restarting cStor target pod does: listening before its LUN is there
# (E2E_TARGET_LATE s). iscsid then usually gives up on the session (see scenario 0's target-restart),
# so recovering may take a logout and a new login, not just waiting for iscsid.
t0=$(now)
tgtd_start "$E2E_TARGET_LATE" || fail target-back "tgtd did not start again"
pass target-back "targets defined again ${E2E_TARGET_LATE}s after tgtd listened"

# Back, but the filesystem aborted under the container: still nothing touched, sweep after sweep.
sleep $(( 2 * E2E_HEALTH_INTERVAL ))
condition_held || fail still-held "the condition no longer says pods hold the volume: $CSI_OUT"
held_untouched still-held
[ "$(timeout 20 nsenter -t "$holder" -m cat "$TARGET/e2e-data" 2>/dev/null | md5sum)" = "$(cat "$STATE/$VOL.md5")" ] ||
  fail still-held "the container no longer reads its data"
pass still-held "$(since "$t0")s after tgtd came back: session $(iscsiadm -m session -P 1 2>/dev/null | awk '/iSCSI Session State/ {print $4}'), the container reads its data"

# The pod goes (kubelet kills its container): from here on, the node's to repair.
holder_stop; rm -f "$STATE/holder.pid"
t0=$(now)

session_back() {
  [ "$(session_count "$IQN")" -eq 1 ] && iscsiadm -m session -P 1 2>/dev/null | grep -q "iSCSI Session State: LOGGED_IN"
}
recovered() {
  session_back && ! is_readonly "$STAGING" && ! is_readonly "$TARGET" &&
  timeout 20 touch "$TARGET/after-recovery" 2>/dev/null && test -f "$STAGING/after-recovery"
}
# Before Linux 6.5 the node cannot put its repair guard beneath the pod's bind in one step, so it
# never takes a published volume off (a container starting meanwhile would bind an empty
# directory): the condition says so, and the repair runs once the volume is unpublished, as
# kubelet does when the pod is deleted.
kernel=$(uname -r); major=${kernel%%.*}; minor=${kernel#*.}; minor=${minor%%.*}
if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 5 ]; }; then
  wait_for "$RECOVERY_DEADLINE" recovered ||
    fail monitor-recovers "not recovered $(since "$t0")s after the container went: sessions $(session_count "$IQN"), staging $(mount_info "$STAGING" | cut -d' ' -f4,5), target $(mount_info "$TARGET" | cut -d' ' -f4,5), writes $(rejects_writes "$TARGET" && echo refused || echo "not refused")"
  pass monitor-recovers "writable again $(since "$t0")s after the container went"
else
  condition_explains() {
    csi node stats --volume-id "$VOL" --volume-path "$TARGET" --staging-path "$STAGING" --json &&
    [ "$(jq -r '.volume_condition.abnormal // false' <<< "$CSI_OUT")" = true ] &&
    jq -r '.volume_condition.message // ""' <<< "$CSI_OUT" | grep -q "Linux 6.5"
  }
  wait_for "$RECOVERY_DEADLINE" condition_explains ||
    fail condition-explains "linux $kernel: no abnormal condition naming the kernel $(since "$t0")s after the container went: $CSI_OUT"
  pass condition-explains "linux $kernel: $(jq -r '.volume_condition.message' <<< "$CSI_OUT" | cut -c1-160)"
  step_unpublish unpublish-to-repair
  staging_recovered() {
    session_back && ! is_readonly "$STAGING" && ! rejects_writes "$STAGING"
  }
  wait_for "$RECOVERY_DEADLINE" staging_recovered ||
    fail monitor-recovers "staging not writable $(since "$t0")s after the container went and the volume was unpublished: sessions $(session_count "$IQN"), staging $(mount_info "$STAGING" | cut -d' ' -f4,5)"
  step_publish republish ext4
  timeout 20 touch "$TARGET/after-recovery" && test -f "$STAGING/after-recovery" ||
    fail monitor-recovers "the republished target does not write through to the volume"
  pass monitor-recovers "writable again $(since "$t0")s after the container went (unpublished to repair)"
fi

expect_fs_mount data-intact "$STAGING" ext4
expect_fs_mount data-intact "$TARGET" ext4
verify_data data-intact "$TARGET"; pass data-intact
condition_normal() {
  csi node stats --volume-id "$VOL" --volume-path "$TARGET" --staging-path "$STAGING" --json &&
  [ "$(jq -r '.volume_condition.abnormal // false' <<< "$CSI_OUT")" = false ]
}
wait_for $(( 2 * E2E_HEALTH_INTERVAL + 30 )) condition_normal   # the condition may lag the recovery by a sweep
stats_ok condition-normal "$TARGET"; pass condition-normal
[ -z "$(ls -A "$view/mount" 2>&1)" ] || fail nothing-on-node-disk "the node's disk under $TARGET holds: $(ls -A "$view/mount" 2>&1)"
umount "$view"; pass nothing-on-node-disk
step_unpublish unpublish
step_unstage unstage
