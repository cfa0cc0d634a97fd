# Scenario 7: tgtd restarts under a writer of fsync'd records: no logout, I/O resumes, nothing lost
# A published ext4 volume takes numbered, checksummed records, each fsync'd before it counts as
# acknowledged, while the target (tgtd) is killed and started again. The node must leave the
# session to iscsid (never log out while the kernel holds the I/O), the writes must resume within
# replacement_timeout without an error, and every record acknowledged before the restart must read
# back intact. The node runs with a replacement_timeout of 60 s here (a restarting cStor target's
# window); the default of this suite (8 s) is for scenario 5, where the window must pass.
# deadline: 360

WINDOW=60
log_start=$(wc -l < "$OUT/node.log")
node_restart_with --iscsi-replacement-timeout "$WINDOW" || fail setup "cstor-node did not restart with a ${WINDOW}s replacement_timeout"
vol_init pvc-e2e-writer 1G
step_stage stage ext4
step_publish publish ext4

# The writer: one record a line, "N PAYLOAD MD5(N PAYLOAD)", fsync'd (sync FILE), then acknowledged.
records=$TARGET/records
: > "$STATE/writer.acked"
( i=0
  while [ ! -e "$STATE/writer.stop" ]; do
    i=$((i + 1))
    payload=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    sum=$(printf '%s %s' "$i" "$payload" | md5sum | cut -c1-32)
    printf '%s %s %s\n' "$i" "$payload" "$sum" >> "$records" || { echo "append $i failed"; exit 1; }
    sync "$records" || { echo "fsync $i failed"; exit 1; }
    echo "$i" > "$STATE/writer.acked"
    sleep 0.1
  done ) > "$STATE/writer.log" 2>&1 &
echo $! > "$STATE/writer.pid"
acked() { cat "$STATE/writer.acked" 2>/dev/null || echo 0; }
wait_for 60 eval '[ "$(acked)" -ge 20 ]' || fail writer "the writer acknowledged only $(acked) records in 60 s: $(cat "$STATE/writer.log")"
pass writer "$(acked) records acknowledged"

sid=$(session_id "$IQN")
t0=$(now)
tgtd_kill || fail target-restart "tgtd did not die on SIGKILL"
before=$(acked)
sleep 2
tgtd_start || fail target-restart "tgtd did not start again"
pass target-restart "tgtd back after $(since "$t0")s; $before records acknowledged when it died"

wait_for $(( WINDOW - 5 )) eval '[ "$(acked)" -ge $(( before + 20 )) ]' ||
  fail io-resumes "only $(acked) records acknowledged $(since "$t0")s after the restart (was $before); writer: $(cat "$STATE/writer.log")"
alive "$(pid_of writer)" || fail io-resumes "the writer died: $(cat "$STATE/writer.log")"
pass io-resumes "$(( $(acked) - before )) more records within $(since "$t0")s"

[ "$(session_id "$IQN")" = "$sid" ] || fail no-logout "the session changed from $sid to $(session_id "$IQN"): the node logged out"
[ "$(session_count "$IQN")" -eq 1 ] || fail no-logout "$(session_count "$IQN") sessions to $IQN"
logouts=$(tail -n +"$(( log_start + 1 ))" "$OUT/node.log" | grep '"msg":"[^"]*logging out' | grep -F "$IQN")
[ -z "$logouts" ] || fail no-logout "the node log shows a logout: $(tail -n1 <<< "$logouts")"
pass no-logout "session $sid kept"

touch "$STATE/writer.stop"
wait_for 20 eval '! alive "$(pid_of writer)"'
rm -f "$STATE/writer.pid" "$STATE/writer.stop"
last=$(acked)
n=0
while read -r i payload sum; do
  n=$((n + 1))
  [ "$i" = "$n" ] || fail records-intact "record $n reads as number $i"
  [ "$(printf '%s %s' "$i" "$payload" | md5sum | cut -c1-32)" = "$sum" ] || fail records-intact "record $i fails its checksum"
done < "$records"
[ "$n" -ge "$last" ] || fail records-intact "$n records read back, $last were acknowledged"
is_readonly "$STAGING" && fail records-intact "the filesystem went read-only"
dev=$(basename "$(readlink -f "$BYPATH")")
[ "$(cat "/sys/fs/ext4/$dev/errors_count" 2>/dev/null || echo 0)" -eq 0 ] || fail records-intact "ext4 counted errors"
pass records-intact "all $n records intact ($before acknowledged before the restart)"

step_unpublish unpublish
step_unstage unstage
