# Scenario 0: plumbing: tgtd targets, login, by-path link, grow, tgtd restart, logout; node identity
# The plumbing the other scenarios stand on, driven by hand (no cstor-node RPCs beyond
# Identity): a target per volume in tgtd, a login by iscsiadm, the by-path link from udev, raw I/O,
# growing a LUN and seeing the new size, killing and restarting tgtd with the session coming back,
# logout and record removal. Cleans up after itself. Also: cstor-node answers on its socket.
# deadline: 240

A=plumb-a B=plumb-b
IQN=$(iqn_of $A); BYPATH=$(bypath_of $A)

target_create $A 1G && target_create $B 1G || fail targets "tgtadm could not create two targets"
n=$(tgtadm_ --op show --mode target | grep -c '^Target ')
[ "$n" -eq 2 ] || fail targets "tgtd shows $n targets, wanted 2"
[ "$(target_lun_mb $A)" = "$(mb 1073741824)" ] || fail targets "tgtd says LUN $LUN of $A has $(target_lun_mb $A) MB, wanted 1 GiB"
pass targets "$(tgtadm_ --op show --mode target | grep '^Target ' | cut -d' ' -f3 | tr '\n' ' ')"

t0=$(now)
iscsiadm -m node -T "$IQN" -p "$PORTAL" -o new > /dev/null || fail login "iscsiadm -o new failed"
iscsiadm -m node -T "$IQN" -p "$PORTAL" -o update -n node.startup -v manual || fail login "cannot set node.startup"
iscsiadm -m node -T "$IQN" -p "$PORTAL" -o update -n node.session.timeo.replacement_timeout -v 5 ||
  fail login "cannot set the replacement timeout"
iscsiadm -m node -T "$IQN" -p "$PORTAL" --login || fail login "iscsiadm --login failed"
[ "$(session_count "$IQN")" -eq 1 ] || fail login "no session to $IQN after login"
wait_for 30 test -b "$BYPATH" || fail login "udev made no $BYPATH within 30 s of login"
dev=$(readlink -f "$BYPATH")
pass login "$BYPATH -> $dev, $(since "$t0")s"

[ "$(devsize "$BYPATH")" -eq 1073741824 ] || fail raw-io "$dev is $(devsize "$BYPATH") bytes, wanted 1 GiB"
[ -z "$(blkid -p "$dev" 2>/dev/null)" ] || fail raw-io "a new LUN already carries a signature: $(blkid -p "$dev")"
dd if=/dev/urandom of="$STATE/pattern" bs=64k count=16 status=none
dd if="$STATE/pattern" of="$dev" bs=64k oflag=direct status=none || fail raw-io "writing to $dev failed"
cmp -n 1048576 "$STATE/pattern" "$STATE/luns/$A.img" || fail raw-io "the LUN's backing file does not hold what was written"
dd if="$dev" of="$STATE/readback" bs=64k count=16 iflag=direct status=none
cmp "$STATE/pattern" "$STATE/readback" || fail raw-io "reading $dev back gives other data"
pass raw-io

t0=$(now)
target_grow $A 2G || fail grow "tgtadm could not re-create LUN $LUN with the grown file"
[ "$(target_lun_mb $A)" = "$(mb 2147483648)" ] || fail grow "tgtd says $(target_lun_mb $A) MB after growing, wanted 2 GiB"
iscsiadm -m node -T "$IQN" -p "$PORTAL" -R > /dev/null || fail grow "iscsiadm -R (rescan) failed"
wait_for 20 eval '[ "$(devsize "$BYPATH")" -eq 2147483648 ]' ||
  fail grow "$dev is $(devsize "$BYPATH") bytes 20 s after the rescan, wanted 2 GiB"
cmp -n 1048576 "$STATE/pattern" "$dev" || fail grow "the data changed when the LUN was re-created"
pass grow "rescan shows 2 GiB in $(since "$t0")s"

t0=$(now)
tgtd_kill || fail target-restart "tgtd did not die on SIGKILL"
wait_for 30 eval 'iscsiadm -m session -P 1 2>/dev/null | grep -q "iSCSI Session State: FAILED\|Internal iscsid Session State: REOPEN\|iSCSI Connection State: TRANSPORT WAIT"' ||
  say "note: the session did not report the lost connection within 30 s"
# Back the way scenario 5 brings it back: tgtd first, the targets E2E_TARGET_LATE s later. iscsid
# (open-iscsi 2.1.8) often gives up on a session whose relogins failed meanwhile ("can't bind conn ...
# retcode -107", then "is shutdown"): the session stays FAILED until someone logs out and in again.
# That is what the node's monitor must do in scenario 5; here it is done by hand, to prove it works.
tgtd_start "$E2E_TARGET_LATE" || fail target-restart "tgtd did not come back"
logged_in() { iscsiadm -m session -P 1 2>/dev/null | grep -q "iSCSI Session State: LOGGED_IN"; }
how="iscsid logged the session in again by itself"
if ! wait_for 10 logged_in; then
  timeout 60 iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout > /dev/null 2>&1
  timeout 60 iscsiadm -m node -T "$IQN" -p "$PORTAL" --login > /dev/null ||
    fail target-restart "no session 30 s after tgtd's restart, and a manual login failed too"
  how="iscsid gave up on the session; logout + login brought it back"
fi
wait_for 30 logged_in || fail target-restart "the session is not LOGGED_IN 30 s after tgtd's restart"
wait_for 30 test -b "$BYPATH" || fail target-restart "no $BYPATH after the session came back"
dev=$(readlink -f "$BYPATH")
dd if="$dev" of="$STATE/readback" bs=64k count=16 iflag=direct status=none ||
  fail target-restart "$dev is not readable after the session came back"
cmp "$STATE/pattern" "$STATE/readback" || fail target-restart "reading after reconnection gives other data"
pass target-restart "$how; readable after $(since "$t0")s"

t0=$(now)
iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout > /dev/null || fail logout "iscsiadm --logout failed"
iscsiadm -m node -T "$IQN" -p "$PORTAL" -o delete || fail logout "cannot delete the node record"
[ "$(session_count "$IQN")" -eq 0 ] || fail logout "a session to $IQN remains"
[ "$(record_count "$IQN")" -eq 0 ] || fail logout "the node record for $IQN remains"
wait_for 20 test ! -e "$BYPATH" || fail logout "$BYPATH is still there 20 s after logout"
pass logout "$(since "$t0")s"

target_remove $A && target_remove $B
[ "$(tgtadm_ --op show --mode target | grep -c '^Target ')" -eq 0 ] || fail cleanup "targets remain in tgtd"
pass cleanup

csi identity probe || fail node-identity "csictl identity probe exited $CSI_RC: $CSI_ERR"
csi identity info --json || fail node-identity "csictl identity info exited $CSI_RC: $CSI_ERR"
name=$(jq -r .name <<< "$CSI_OUT")
[ "$name" = "$DRIVER" ] || fail node-identity "GetPluginInfo names $name, wanted $DRIVER"
pass node-identity "$(jq -r '.name + " " + .vendor_version' <<< "$CSI_OUT")"
