# Scenario 4: online expansion of ext4, xfs and raw block volumes
# Online expansion. The LUN grows in tgtd (as the cStor target does when CVC capacity
# rises), then NodeExpandVolume must rescan the iSCSI session and grow what is on the device: ext4
# (resize2fs), xfs (xfs_growfs), and a raw block volume (the device size only). Twice each.
# deadline: 360

GIB=1073741824
for fs in ext4 xfs block; do
  if [ $fs = block ]; then vol_init pvc-e2e-grow-$fs 1G block; else vol_init pvc-e2e-grow-$fs 1G; fi
  step_stage $fs-stage $fs
  step_publish $fs-publish $fs
  [ $fs = block ] || write_data $fs-write "$TARGET"

  target_grow "$VOL" 2G || fail $fs-grow-lun "tgtadm could not grow the LUN"
  expand_args=(--volume-id "$VOL" --volume-path "$TARGET" --staging-path "$STAGING" --required-bytes $((2 * GIB)) --json)
  [ $fs = block ] && expand_args+=(--block)
  csi_ok $fs-expand node expand "${expand_args[@]}"
  t=$CSI_TIME
  cap=$(jq -r '.capacity_bytes // 0 | tonumber' <<< "$CSI_OUT" 2>/dev/null || echo 0)
  [ "$cap" -ge $((2 * GIB)) ] || fail $fs-expand "NodeExpandVolume answered capacity_bytes=$cap, wanted >= 2 GiB"
  [ "$(devsize "$BYPATH")" -eq $((2 * GIB)) ] || fail $fs-expand "the device is $(devsize "$BYPATH") bytes, wanted 2 GiB"
  if [ $fs = block ]; then
    [ "$(devsize "$TARGET")" -eq $((2 * GIB)) ] || fail $fs-expand "$TARGET is $(devsize "$TARGET") bytes, wanted 2 GiB"
  else
    size=$(df -B1 --output=size "$TARGET" | tail -n1 | tr -d ' ')
    [ "$size" -gt $((GIB * 18 / 10)) ] || fail $fs-expand "the filesystem at $TARGET is $size bytes after expansion, wanted about 2 GiB"
    verify_data $fs-expand "$TARGET"
  fi
  pass $fs-expand "${t}s, capacity $cap"

  csi_ok $fs-expand-again node expand "${expand_args[@]}"
  pass $fs-expand-again

  step_unpublish $fs-unpublish
  step_unstage $fs-unstage
  target_remove "$VOL"
done
