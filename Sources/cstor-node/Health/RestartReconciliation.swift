import CStorCore
import FoundationEssentials
import Glibc
import Logging

extension HealthMonitor {
    /// What a previous process of this plugin left behind, made consistent at start-up:
    /// - a staged volume whose mount and device are intact is kept as is;
    /// - one that lost its mount (node reboot, plugin crash mid-operation) is mounted again from
    ///   its device after a check, and its publish targets are bound again;
    /// - one whose device is gone is re-attached when the transport allows, else marked faulty for
    ///   the monitor and the next NodeStageVolume;
    /// - a record of a volume that is present nowhere any more (no staging directory, no mount,
    ///   nothing attached) is removed.
    /// Interrupted stagings (attaching, formatting) are left for the next NodeStageVolume, which
    /// finishes them. Each volume is handled under its lock, so RPCs wait their turn (Aborted).
    func reconcileAfterRestart() async {
        for file in node.records.unreadable {
            logger.error("unreadable state record left untouched", metadata: ["file": .string(file)])
        }
        let table: MountTable
        do { table = try node.mounter.table() } catch {
            logger.error("cannot read the mount table; reconciliation skipped", metadata: ["error": "\(error)"])
            return
        }
        var kept = 0
        var repaired = 0
        var removed = 0
        let adoption = VolumeAdoption(
            kubeletDirectory: node.settings.kubeletDirectory, driverName: node.settings.driverName, sysfs: node.settings.iscsiSysfs)
        // A volume whose record cannot be read is not adopted: that would write over the file.
        let known = Set(node.records.all().map(\.volumeID)).union(node.records.unreadableVolumeIDs)
        for record in adoption.candidates(in: table, known: known) {
            do {
                try node.records.save(record)
                RequestContext.logger(logger, volumeID: record.volumeID).notice(
                    "adopted a cStor volume staged without a record of ours (by openebs/cstor-csi before the switch?)",
                    metadata: ["staging_path": .string(record.stagingPath), "device": .string(record.device ?? ""),
                               "publications": .stringConvertible(record.publications.count)])
            } catch {
                logger.error("cannot record an adopted volume", metadata: ["volume_id": .string(record.volumeID), "error": "\(error)"])
            }
        }
        for record in node.records.all() {
            let volumeID = record.volumeID
            let log = RequestContext.logger(logger, volumeID: volumeID)
            guard node.locks.tryAcquire(volumeID, operation: "restart reconciliation") else { continue }
            defer { node.locks.release(volumeID) }

            if await isGoneEverywhere(record, table: table) {
                log.notice("removing the record of a volume present nowhere any more")
                try? node.records.delete(volumeID)
                removed += 1
                continue
            }
            guard record.phase == .staged else {
                log.notice("an interrupted NodeStageVolume is left for kubelet's retry", metadata: ["phase": .string(record.phase.rawValue)])
                continue
            }
            guard let problem = VolumeInspection.problem(of: record, in: table) else {
                kept += 1
                continue
            }
            log.notice("restoring a staged volume after a restart", metadata: ["problem": .string(problem)])
            do {
                try await recover(volumeID, log: log)
                repaired += 1
            } catch {
                log.error("could not restore the volume; it stays faulty", metadata: ["error": "\(error)"])
                node.health.report(volumeID, fault: "\(problem) (restore after restart failed: \(CSIError.from(error).message))")
            }
        }
        logger.notice(
            "reconciled state after start",
            metadata: ["kept": .stringConvertible(kept), "restored": .stringConvertible(repaired), "removed": .stringConvertible(removed)])
    }

    /// No staging directory, nothing mounted from it, and nothing attached for it.
    private func isGoneEverywhere(_ record: VolumeRecord, table: MountTable) async -> Bool {
        if FileManager.default.fileExists(atPath: record.stagingPath) { return false }
        if table.mount(at: record.stagingPath) != nil { return false }
        if !record.publications.keys.filter({ table.mount(at: $0) != nil }).isEmpty { return false }
        if case .loop(let file) = record.target, !FileManager.default.fileExists(atPath: file) { return true }
        return (try? await node.attachers.currentDevice(record.target)) == nil
    }
}
