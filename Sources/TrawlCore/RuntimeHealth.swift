import Synchronization

/// What the monitoring endpoint's `/ready` answers from: whether every service of the run has started, every
/// output's last write succeeded and every input service's last pull cycle ended without an error. Sink and
/// source services report into it; an orchestrator or a monitor sees an instance that is not doing its job
/// (an output unreachable, a queue it may no longer read) without reading its log.
public final class RuntimeHealth: Sendable {
    /// The answer to "is this instance ready", with why not.
    public struct Readiness: Sendable, Equatable {
        public var isReady: Bool
        /// One line per reason it is not ready, e.g. `output devo: SinkError 501 (attempt 3) ...`.
        public var problems: [String]

        public init(isReady: Bool, problems: [String]) {
            self.isReady = isReady
            self.problems = problems
        }
    }

    private struct State {
        var waitingFor: Set<String>
        var failingOutputs: [String: String] = [:]
        var failingInputs: [String: String] = [:]
        var stopping = false
    }

    private let state: Mutex<State>

    /// A run of these outputs and input services (`input/service`); it is ready once each reported
    /// ``outputStarted(_:)`` or ``inputStarted(_:)``.
    public init(outputs: some Sequence<String>, inputServices: some Sequence<String>) {
        self.state = Mutex(
            State(waitingFor: Set(outputs.map(Self.outputName) + inputServices.map(Self.inputName)))
        )
    }

    public func outputStarted(_ output: String) {
        self.state.withLock { _ = $0.waitingFor.remove(Self.outputName(output)) }
    }

    /// The input service `input/service` started.
    public func inputStarted(_ service: String) {
        self.state.withLock { _ = $0.waitingFor.remove(Self.inputName(service)) }
    }

    private static func outputName(_ output: String) -> String { "output \(output)" }
    private static func inputName(_ service: String) -> String { "input \(service)" }

    /// The output delivered a write: it is reachable.
    public func outputSucceeded(_ output: String) {
        self.state.withLock { _ = $0.failingOutputs.removeValue(forKey: output) }
    }

    /// A write to the output failed with `reason`; it stays not ready until a write succeeds.
    public func outputFailed(_ output: String, reason: String) {
        self.state.withLock { $0.failingOutputs[output] = reason }
    }

    /// A pull cycle of the input service `input/service` ended without an error: it can read its source.
    public func inputSucceeded(_ service: String) {
        self.state.withLock { _ = $0.failingInputs.removeValue(forKey: service) }
    }

    /// A pull cycle of the input service `input/service` failed with `reason` (credentials refused, the
    /// queue or API unreachable); it stays not ready until a cycle ends without an error.
    public func inputFailed(_ service: String, reason: String) {
        self.state.withLock { $0.failingInputs[service] = reason }
    }

    /// The run was asked to stop: it takes no new work.
    public func stopping() {
        self.state.withLock { $0.stopping = true }
    }

    public var readiness: Readiness {
        self.state.withLock { state in
            var problems: [String] = []
            if state.stopping { problems.append("stopping") }
            for name in state.waitingFor.sorted() { problems.append("\(name): not started") }
            for (service, reason) in state.failingInputs.sorted(by: { $0.key < $1.key }) {
                problems.append("\(Self.inputName(service)): \(reason)")
            }
            for (output, reason) in state.failingOutputs.sorted(by: { $0.key < $1.key }) {
                problems.append("output \(output): \(reason)")
            }
            return Readiness(isReady: problems.isEmpty, problems: problems)
        }
    }
}
