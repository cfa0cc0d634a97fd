import CStorCore
import CStorKubernetes
import CStorModel
import Dispatch
import Foundation

// cstor-bench: the benchmarks of cstor-csi, each printed next to its physical limit measured in the
// same run. Run it through scripts/bench, which builds it, prepares the Python client and removes
// whatever a run leaves (mounts, loop devices, processes, the scratch directory), also on Ctrl-C.

let usage = """
    usage: cstor-bench --bin-dir DIR --work-dir DIR [--python PY --python-dir DIR --stubs DIR]
                       [--only create,stage,fault,sweep,stats,memory,probe] [--runs N] [--quick] [--profile] [--report-dir DIR]
    """

let allBenchmarks = ["create", "stage", "fault", "sweep", "stats", "memory", "probe"]

func parseArguments() -> (BenchConfig, String?) {
    var arguments = Array(CommandLine.arguments.dropFirst())
    var values: [String: String] = [:]
    var flags: Set<String> = []
    while !arguments.isEmpty {
        let argument = arguments.removeFirst()
        switch argument {
        case "--quick", "--profile", "--no-profile": flags.insert(argument)
        case "-h", "--help":
            print(usage)
            exit(0)
        default:
            guard argument.hasPrefix("--"), !arguments.isEmpty else {
                FileHandle.standardError.write(Data("unknown argument \(argument)\n\(usage)\n".utf8))
                exit(2)
            }
            values[argument] = arguments.removeFirst()
        }
    }
    guard let binDir = values["--bin-dir"], let workDir = values["--work-dir"] else {
        FileHandle.standardError.write(Data("--bin-dir and --work-dir are required\n\(usage)\n".utf8))
        exit(2)
    }
    let only = Set((values["--only"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    for name in only where !allBenchmarks.contains(name) {
        FileHandle.standardError.write(Data("unknown benchmark \(name); known: \(allBenchmarks.joined(separator: ", "))\n".utf8))
        exit(2)
    }
    let config = BenchConfig(
        binDir: (binDir as NSString).standardizingPath, workDir: workDir, pythonDir: values["--python-dir"] ?? "",
        python: values["--python"] ?? "python3", stubsDir: values["--stubs"] ?? "", runs: Int(values["--runs"] ?? "") ?? 2,
        only: only, quick: flags.contains("--quick"), profile: flags.contains("--profile"),
        reportDir: values["--report-dir"] ?? workDir)
    return (config, values["--report-dir"])
}

let (config, _) = parseArguments()
setenv("CSTOR_CSI_BIN_DIR", config.binDir, 1)
Children.pidFile = config.path("pids")
_ = FileManager.default.createFile(atPath: config.path("pids"), contents: nil)

// Ctrl-C or SIGTERM: end the children at once; scripts/bench then unmounts and detaches.
var signalSources: [any DispatchSourceSignal] = []
for number in [SIGINT, SIGTERM] {
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler {
        FileHandle.standardError.write(Data("\ncstor-bench: interrupted, stopping the children\n".utf8))
        Children.killAll()
        exit(130)
    }
    source.resume()
    signalSources.append(source)
}

print("cstor-bench — \(Proc.machine())")
print("binaries: \(config.binDir)")
for name in ["cstor-controller", "cstor-node"] {
    let version = (try? run(config.binary(name), ["--version"]))?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    print("  \(name) --version: \(version)")
}
print("started \(ISO8601DateFormatter().string(from: Date())), runs per benchmark: \(config.runs)\(config.quick ? ", QUICK sizes (not the issue's)" : "")")
fflush(nil)

let selected = allBenchmarks.filter { config.only.isEmpty || config.only.contains($0) }
var failures: [String] = []
for name in selected {
    let others = Proc.busyOthers()
    print("\n[\(name)] load average \(Proc.loadAverage())" + (others.isEmpty ? "" : "; other busy processes: \(others.joined(separator: ", "))"))
    let started = clock.now
    do {
        switch name {
        case "create": try await createBenchmark(config)
        case "stage": try await stageBenchmark(config)
        case "fault": try await faultBenchmark(config)
        case "sweep": try await sweepBenchmark(config)
        case "stats": try await statsBenchmark(config)
        case "memory": try await memoryBenchmark(config)
        case "probe": try await probeBenchmark(config)
        default: break
        }
    } catch {
        failures.append(name)
        Out.line("ERROR in \(name): \(error)")
    }
    Children.killAll()
    Out.note("\(name) took \(fmt(started.duration(to: clock.now).seconds, 0)) s")
}
print("")
print(failures.isEmpty ? "cstor-bench: all \(selected.count) benchmarks ran" : "cstor-bench: failed: \(failures.joined(separator: ", "))")
exit(failures.isEmpty ? 0 : 1)
