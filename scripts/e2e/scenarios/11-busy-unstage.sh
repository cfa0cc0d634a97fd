# Scenario 11: NodeUnstageVolume while something still holds the volume
# First a process with its working directory and a file open in the staging mount (the unmount is
# busy), then a process in a private mount namespace of its own holding a file (as a pod's
# container does: the unmount here succeeds, the disk stays in use). Each time NodeUnstageVolume
# fails naming the process, and the session stays logged in. Once the holder exits, the retry
# completes, and the data is intact when the volume is staged again.
# deadline: 300

vol_init pvc-e2e-busy 1G
step_stage stage ext4
step_publish publish ext4
write_data write "$TARGET"; pass write
step_unpublish unpublish
sid=$(session_id "$IQN")

for kind in shared private; do
  holder_start "$STAGING/e2e-data" "$kind" || fail "held-$kind" "the holder did not start"
  pid=$(pid_of holder)
  unstage && fail "held-$kind" "NodeUnstageVolume answered OK while process $pid holds the volume"
  case $CSI_ERR in *"process $pid (sleep)"*) ;; *) fail "held-$kind" "the error does not name process $pid: $CSI_ERR" ;; esac
  [ "$(session_id "$IQN")" = "$sid" ] || fail "held-$kind" "the session changed: $sid -> $(session_id "$IQN")"
  [ "$kind" = private ] || is_mounted "$STAGING" || fail "held-$kind" "$STAGING was unmounted (lazily?)"
  pass "held-$kind" "$CSI_ERR"
  holder_stop
done
rm -f "$STATE/holder.pid"

retry_unstage() { local i; for i in $(seq 1 20); do unstage && return 0; sleep 1; done; return 1; }
retry_unstage || fail unstage "still failing after the holder exited: $CSI_ERR"
expect_detached unstage
pass unstage

step_stage restage ext4
verify_data data-intact "$STAGING"; pass data-intact
step_unstage unstage-again
