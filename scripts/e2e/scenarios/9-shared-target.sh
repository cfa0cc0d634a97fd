# Scenario 9: two volumes on one target (LUN 1 and LUN 300), through a hostname portal
# Two volumes are LUNs of the same target, so they share one iSCSI session; the second one's LUN
# is 300 (flat addressing, udev's lun-0x412c… link) and both name the portal by hostname
# (cstor-target.e2e, which /etc/hosts maps to tgtd's 127.0.0.1: "localhost" would also give ::1,
# where this tgtd does not listen). Unstaging one keeps the session: the other volume goes on working. The last
# unstage logs out and removes the node record.
# deadline: 300

grep -q ' cstor-target.e2e$' /etc/hosts || echo "127.0.0.1 cstor-target.e2e" >> /etc/hosts
target_create shared-e2e 512M 1 300 || fail target "tgtadm could not create a target with LUNs 1 and 300"
pass target "LUNs 1 and 300"

vol_use pvc-e2e-shared-a shared-e2e 1 mount cstor-target.e2e:3260
step_stage stage-a ext4; vol_save
write_data write-a "$STAGING"; pass write-a
vol_use pvc-e2e-shared-b shared-e2e 300 mount cstor-target.e2e:3260
step_stage stage-b xfs; vol_save
write_data write-b "$STAGING"; pass write-b
[ "$(session_count "$IQN")" -eq 1 ] || fail one-session "$(session_count "$IQN") sessions for the two volumes, wanted 1"
pass one-session "session $(session_id "$IQN"), $BYPATH"

vol_load pvc-e2e-shared-a
csi_ok unstage-a node unstage --volume-id "$VOL" --staging-path "$STAGING"
! is_mounted "$STAGING" || fail unstage-a "$STAGING is still mounted"
[ "$(session_count "$IQN")" -eq 1 ] || fail unstage-a "the shared session is gone: $(session_count "$IQN") sessions"
pass unstage-a "session kept for the other volume"

vol_load pvc-e2e-shared-b
expect_fs_mount other-works "$STAGING" xfs
verify_data other-works "$STAGING"
dd if=/dev/urandom of="$STAGING/after" bs=1M count=4 conv=fsync status=none || fail other-works "the other volume takes no writes"
pass other-works

step_unstage unstage-b
