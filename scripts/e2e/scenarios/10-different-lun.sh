# Scenario 10: the target comes back with another LUN behind the same IQN, portal and LUN number
# A staged volume's node goes down (a reboot: no mounts, no sessions); meanwhile its target is
# re-created with another, empty disk (another SCSI id, so another WWID) at the same IQN, portal
# and LUN. When the node is back, neither its restart recovery nor kubelet's NodeStageVolume may
# touch that disk: refused, nothing formatted, nothing mounted. With the real disk back, the
# volume stages again with its data.
# deadline: 300

vol_init pvc-e2e-swap 512M
step_stage stage ext4
write_data write "$STAGING"; pass write

t0=$(now)
node_stop KILL || fail reboot "cstor-node did not die"
umount "$STAGING" || fail reboot "cannot unmount $STAGING"
timeout 60 iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout > /dev/null || fail reboot "cannot log out"
original=$STATE/luns/pvc-e2e-swap.img
impostor=$STATE/luns/pvc-e2e-swap-impostor.img
truncate -s 512M "$impostor"
tid=$(head -n1 "$STATE/targets/pvc-e2e-swap")
tgtadm_ --op delete --mode target --tid "$tid" --force
target_replace_lun pvc-e2e-swap "$impostor"
target_define pvc-e2e-swap || fail reboot "tgtadm could not define the target again"
node_start || fail reboot "cstor-node did not start again"
pass reboot "the same IQN and LUN now carry another disk; node back in $(since "$t0")s"

stage && fail refused "NodeStageVolume staged the other disk: $CSI_OUT"
case $CSI_ERR in *"another LUN"*) ;; *) fail refused "refused for another reason: $CSI_ERR" ;; esac
! is_mounted "$STAGING" || fail refused "$STAGING is mounted"
cmp -s -n "$(stat -c %s "$impostor")" "$impostor" /dev/zero || fail refused "the other disk was written to"
pass refused "$CSI_ERR"

# The real disk is back (the operator fixed the target while the node was down); the session to
# the other disk goes with the reboot.
node_stop TERM || fail restored "cstor-node did not stop"
timeout 60 iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout > /dev/null 2>&1
tgtadm_ --op delete --mode target --tid "$tid" --force
target_replace_lun pvc-e2e-swap "$original"
target_define pvc-e2e-swap || fail restored "tgtadm could not define the target again"
node_start || fail restored "cstor-node did not start again"
step_stage restored ext4
verify_data restored "$STAGING"; pass restored "the data is intact"
step_unstage unstage
rm -f "$impostor"
