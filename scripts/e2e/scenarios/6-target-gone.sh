# Scenario 6: unpublish and unstage with the target gone for good
# The target disappears for good while the volume is published, with data not yet on the
# target. kubelet then unpublishes and unstages (retrying failed calls as kubelet does); both must
# finish within the node's timeouts and leave no mount, session, node record or device behind.
# deadline: 360

UNSTAGE_DEADLINE=$(( E2E_REPLACEMENT_TIMEOUT + 150 ))
vol_init pvc-e2e-gone 1G
step_stage stage ext4
step_publish publish ext4
write_data write "$TARGET"; pass write
dd if=/dev/urandom of="$TARGET/unsynced" bs=1M count=8 status=none   # dirty pages the unmount must give up on

t0=$(now)
tgtd_kill || fail target-gone "tgtd did not die on SIGKILL"
pass target-gone

# retry CHECK DEADLINE FUNCTION: calls FUNCTION until it succeeds or DEADLINE seconds pass.
retry() {
  local check=$1 deadline=$(( SECONDS + $2 )) tries=0; shift 2
  while :; do
    tries=$((tries + 1))
    "$@" && { RETRY_TRIES=$tries; return 0; }
    [ "$SECONDS" -lt "$deadline" ] || fail "$check" "still failing after $tries calls: csictl exited $CSI_RC: $CSI_ERR"
    sleep 2
  done
}
retry unpublish "$UNSTAGE_DEADLINE" unpublish
expect_unpublished unpublish
pass unpublish "$RETRY_TRIES call(s), $(since "$t0")s"
t1=$(now)
retry unstage "$UNSTAGE_DEADLINE" unstage
expect_detached unstage
pass unstage "$RETRY_TRIES call(s), $(since "$t1")s; $(since "$t0")s since the target went away"
