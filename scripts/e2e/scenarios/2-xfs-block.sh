# Scenario 2: xfs and raw block lifecycles
# The same lifecycle for xfs, and for a raw block volume (stage attaches only; publish
# binds the device onto a file kubelet names; the node must never put a filesystem on it).
# deadline: 300

vol_init pvc-e2e-xfs 1G
step_stage xfs-stage xfs
step_publish xfs-publish xfs
write_data xfs-write "$TARGET"; verify_data xfs-write "$STAGING"; pass xfs-write
stats_ok xfs-stats "$TARGET"; pass xfs-stats
step_unpublish xfs-unpublish
step_unstage xfs-unstage

vol_init pvc-e2e-block 1G block
step_stage block-stage block
step_publish block-publish block
[ -z "$(blkid -p "$TARGET" 2>/dev/null)" ] || fail block-unformatted "the node put a signature on a raw block volume: $(blkid -p "$TARGET")"
pass block-unformatted
dd if=/dev/urandom of="$STATE/pattern" bs=64k count=16 status=none
dd if="$STATE/pattern" of="$TARGET" bs=64k oflag=direct conv=fsync status=none || fail block-write "writing to $TARGET failed"
dd if="$BYPATH" of="$STATE/readback" bs=64k count=16 iflag=direct status=none
cmp -s "$STATE/pattern" "$STATE/readback" || fail block-write "the volume does not hold what was written to $TARGET"
pass block-write "1 MiB through the published device"
step_unpublish block-unpublish
step_unstage block-unstage
