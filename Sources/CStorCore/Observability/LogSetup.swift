import Logging

/// Installs the process-wide log handler once, at start-up.
public enum LogSetup {
    public static func bootstrap(component: String, format: JSONLogHandler.Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            JSONLogHandler(label: label, component: component, format: format, level: level)
        }
    }
}
