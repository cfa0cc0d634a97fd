# Scenario 3: every RPC twice, and a cstor-node crash between stage and publish
# Every RPC twice (CSI requires idempotency: the second call succeeds and changes
# nothing), and cstor-node killed (SIGKILL, as a crash) and restarted between stage and publish: the
# restarted node publishes, unpublishes and unstages what the old process staged.
# deadline: 300

vol_init pvc-e2e-idem 1G
step_stage stage ext4
step_stage stage-again ext4          # expect_attached / expect_fs_mount check: still 1 session, 1 mount

t0=$(now)
node_stop KILL || fail restart "cstor-node did not die on SIGKILL"
node_start || fail restart "the restarted cstor-node does not answer csictl identity probe within 60 s"
expect_attached restart
expect_fs_mount restart "$STAGING" ext4
pass restart "SIGKILL and back in $(since "$t0")s; the staged volume is untouched"

step_publish publish ext4
step_publish publish-again ext4
write_data write "$TARGET"; verify_data write "$STAGING"; pass write
step_unpublish unpublish
step_unpublish unpublish-again
step_unstage unstage
step_unstage unstage-again
