# Scenario 1: ext4 lifecycle: stage, publish, write, stats, unpublish, unstage, restage keeps data
# The plain lifecycle of an ext4 volume, as kubelet drives it, with the publish_context
# the controller sends: stage -> publish -> write -> stats -> unpublish -> unstage, then a second
# stage of the same volume finds the data (the node must not format a device that has a filesystem).
# deadline: 300

vol_init pvc-e2e-ext4 1G
step_stage stage ext4
step_publish publish ext4
write_data write "$TARGET"; verify_data write "$STAGING"; pass write "4 MiB through the target path, read via staging"
stats_ok stats "$TARGET"; pass stats
step_unpublish unpublish
step_unstage unstage

step_stage restage ext4
verify_data restage-keeps-data "$STAGING"; pass restage-keeps-data
step_unstage unstage-again
