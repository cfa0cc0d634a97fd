# Scenario 8: NodeStageVolume again on a mounted volume whose by-path link was removed
# kubelet calls NodeStageVolume again on live volumes after it restarts. Here the LUN's udev link
# is gone (a udev backlog, a manual cleanup): the node finds the disk through its session in
# sysfs, answers OK, and neither logs out nor remounts; the data and the published mount stay.
# deadline: 240

vol_init pvc-e2e-nolink 1G
step_stage stage ext4
step_publish publish ext4
write_data write "$TARGET"; pass write
sid=$(session_id "$IQN")
disk=$(readlink -f "$BYPATH")
rm -f "$BYPATH" || fail link-removed "cannot remove $BYPATH"
[ ! -e "$BYPATH" ] || fail link-removed "$BYPATH is still there"
pass link-removed "$BYPATH -> $disk removed"

csi_ok restage node stage --volume-id "$VOL" --staging-path "$STAGING" --fs ext4 "${PCTX[@]}"
[ "$(session_id "$IQN")" = "$sid" ] || fail restage "the session changed from $sid to $(session_id "$IQN"): the node logged out"
info=$(mount_info "$STAGING"); set -- $info
[ "$1" = "$(devnum "$disk")" ] || fail restage "$STAGING is $1 now, not $disk"
[ "$(mount_count "$STAGING")" -eq 1 ] || fail restage "$(mount_count "$STAGING") mounts stacked at $STAGING"
pass restage "OK in ${CSI_TIME}s; session $sid and mount kept"

verify_data data-intact "$TARGET"
dd if=/dev/urandom of="$TARGET/after" bs=1M count=1 conv=fsync status=none || fail data-intact "the published volume takes no writes"
pass data-intact

step_unpublish unpublish
csi_ok unstage node unstage --volume-id "$VOL" --staging-path "$STAGING"
[ "$(session_count "$IQN")" -eq 0 ] || fail unstage "the session to $IQN remains"
[ "$(record_count "$IQN")" -eq 0 ] || fail unstage "the node record for $IQN remains"
pass unstage "logged out without the link"
