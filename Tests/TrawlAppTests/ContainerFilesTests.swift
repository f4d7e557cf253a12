import Foundation
import Testing
import TrawlCore
import TrawlTesting
import Yams

/// The Dockerfile and the compose file, checked for what they declare (no container engine runs here):
/// stages, user, paths, mounts, and the libraries the binary needs.
@Suite struct ContainerFilesTests {
    /// One stage of a Dockerfile: its base image, name and instructions (keyword, arguments), with
    /// continuation lines joined and comments dropped.
    struct Stage {
        var image: String
        var name: String?
        var instructions: [(keyword: String, arguments: String)] = []

        func all(_ keyword: String) -> [String] { self.instructions.filter { $0.keyword == keyword }.map(\.arguments) }
    }

    static let deploy = "\(RepositoryFiles.root)/deploy/trawl"
    static let configMount = "/devo-collector/config"
    static let certsMount = "/devo-collector/certs"
    static let stateMount = "/devo-collector/state"

    static func stages() throws -> [Stage] {
        let text = try String(contentsOfFile: "\(RepositoryFiles.root)/Dockerfile", encoding: .utf8)
        var logical: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") || (trimmed.isEmpty && current.isEmpty) { continue }
            if trimmed.hasSuffix("\\") {
                current += trimmed.dropLast() + " "
            } else {
                logical.append(current + trimmed)
                current = ""
            }
        }
        var stages: [Stage] = []
        for line in logical where !line.isEmpty {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let keyword = parts[0].uppercased()
            let arguments = parts.count > 1 ? parts[1] : ""
            if keyword == "FROM" {
                let words = arguments.split(separator: " ").map(String.init)
                stages.append(
                    Stage(image: words[0], name: words.count == 3 && words[1].uppercased() == "AS" ? words[2] : nil)
                )
            } else {
                stages[stages.count - 1].instructions.append((keyword, arguments))
            }
        }
        return stages
    }

    /// The packages `apt-get install` names in a stage.
    static func installedPackages(_ stage: Stage) -> Set<String> {
        var packages = Set<String>()
        for command in stage.all("RUN") {
            for part in command.components(separatedBy: "&&") where part.contains("apt-get install") {
                packages.formUnion(
                    part.split(separator: " ").map(String.init).drop { $0 != "install" }.dropFirst().filter {
                        !$0.hasPrefix("-")
                    }
                )
            }
        }
        return packages
    }

    @Test func theImageIsBuiltWithTheSwiftToolchainAndRunsTheBinaryAsANonRootUserOnASlimBase() throws {
        let stages = try Self.stages()
        #expect(stages.count == 2)
        let build = try #require(stages.first)
        let run = try #require(stages.last)
        #expect(build.image.hasPrefix("swift:6.3"))
        #expect(
            build.all("RUN").contains { $0.contains("swift build -c release --product trawl --static-swift-stdlib") }
        )
        #expect(run.image.hasPrefix("debian:") && run.image.hasSuffix("-slim"))
        #expect(!Self.installedPackages(run).contains { $0.hasSuffix("-dev") || $0.hasPrefix("swift") })
        #expect(run.all("COPY") == ["--from=\(build.name ?? "?") /out/trawl /usr/local/bin/trawl"])

        let user = try #require(run.all("USER").last)
        let uid = try #require(Int(user.split(separator: ":")[0]), "USER is numeric, so the runtime can check it")
        #expect(uid != 0)
        #expect(run.all("RUN").contains { $0.contains("useradd --system --uid \(uid) ") })
        #expect(
            run.all("RUN").contains { $0.contains("chown trawl:trawl \(Self.stateMount)") },
            "only state is writable"
        )
        #expect(run.all("WORKDIR") == ["/devo-collector"])
        #expect(run.all("ENTRYPOINT") == [#"["/usr/local/bin/trawl"]"#])
        #expect(run.all("CMD") == [#"["run", "--config", "\#(Self.configMount)/config.yaml"]"#])
        #expect(run.all("EXPOSE") == ["\(HTTPEndpointSettings().port)"])
    }

    @Test func theRunStageInstallsEveryLibraryTheBinaryLinks() async throws {
        let binary = "\(BuiltExecutable.productsDirectory)/trawl"
        let ldd = try await Self.output(of: "/usr/bin/ldd", [binary])
        let libraries = ldd.split(separator: "\n").compactMap { line -> String? in
            guard let arrow = line.range(of: "=> ") else { return nil }
            let path = line[arrow.upperBound...].split(separator: " ").first.map(String.init) ?? ""
            // The Swift runtime is linked statically into the image's binary.
            return path.hasPrefix("/") && !path.contains("swift") ? path : nil
        }
        #expect(libraries.contains { $0.contains("libisal") }, "\(ldd)")
        var packages = Set<String>()
        for library in libraries {
            // dpkg knows a library by the path its package installed, which usrmerge may hide behind a link.
            var owner = try await Self.output(of: "/usr/bin/dpkg", ["-S", library])
            if owner.isEmpty {
                owner = try await Self.output(
                    of: "/usr/bin/dpkg",
                    ["-S", URL(fileURLWithPath: library).resolvingSymlinksInPath().path]
                )
            }
            let package = owner.split(separator: ":").first.map(String.init)
            #expect(package != nil, "no Debian package owns \(library)")
            packages.formUnion(package.map { [$0] } ?? [])
        }
        #expect(packages.isSuperset(of: ["zlib1g", "libbz2-1.0", "libstdc++6"]), "\(packages)")
        // Essential in every Debian image, slim ones included.
        packages.subtract(["libc6", "libgcc-s1"])
        let run = try #require(try Self.stages().last)
        #expect(
            packages.isSubset(of: Self.installedPackages(run)),
            "missing: \(packages.subtracting(Self.installedPackages(run)))"
        )
    }

    @Test func theComposeFileMountsConfigAndCertsReadOnlyAndStateWritableWhereTheImageExpectsThem() throws {
        let text = try String(contentsOfFile: "\(Self.deploy)/docker-compose.yaml", encoding: .utf8)
        let compose = try #require(try Yams.load(yaml: text) as? [String: Any])
        let services = try #require(compose["services"] as? [String: Any])
        let trawl = try #require(services["trawl"] as? [String: Any])
        let user = try #require(try Self.stages().last?.all("USER").last)
        #expect(trawl["user"] as? String == user)
        #expect(trawl["read_only"] as? Bool == true)
        let volumes = try #require(trawl["volumes"] as? [String])
        #expect(
            Set(volumes) == [
                "./config:\(Self.configMount):ro", "./certs:\(Self.certsMount):ro", "./state:\(Self.stateMount)",
            ]
        )
        for volume in volumes {
            let source = String(volume.split(separator: ":")[0].dropFirst(2))
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: "\(Self.deploy)/\(source)", isDirectory: &isDirectory))
            #expect(isDirectory.boolValue, "\(source) is a directory of the on-premise layout")
        }
        #expect(trawl["command"] as? [String] == ["run", "--config", "\(Self.configMount)/config.yaml"])
        #expect(trawl["ports"] as? [String] == ["127.0.0.1:9464:9464"], "published on the host's loopback only")
        #expect((trawl["image"] as? String)?.hasPrefix("trawl:${IMAGE_VERSION") == true)
    }

    @Test func theExampleConfigurationIsValidAndUsesOnlyTheMountedPaths() async throws {
        let text = try String(contentsOfFile: "\(Self.deploy)/config/config.yaml", encoding: .utf8)
        let configuration = try #require(try Yams.load(yaml: text) as? [String: Any])
        let globals = try #require(configuration["globals"] as? [String: Any])
        #expect((globals["persistence"] as? [String: Any])?["directory"] as? String == Self.stateMount)
        let endpoint = try #require(globals["http_endpoint"] as? [String: Any])
        #expect(endpoint["enabled"] as? Bool == true && endpoint["port"] as? Int == 9464)
        let paths = text.split(separator: "\n").compactMap { line in
            line.range(of: "/devo-collector").map { String(line[$0.lowerBound...]) }
        }
        #expect(paths.allSatisfy { $0 == Self.stateMount || $0.hasPrefix(Self.certsMount + "/") }, "\(paths)")

        // The same file where the mounts are a temporary directory, with Devo-like certificates: valid.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for mount in ["config", "certs", "state"] {
            try FileManager.default.createDirectory(
                atPath: "\(directory.path)/\(mount)",
                withIntermediateDirectories: true
            )
        }
        let certificates = try await TestCertificates.make(in: "\(directory.path)/certs")
        for (made, named) in [("ca.crt", "chain.crt"), ("client.crt", "domain.crt"), ("client.key", "domain.key")] {
            try FileManager.default.copyItem(
                atPath: certificates.path(made),
                toPath: "\(directory.path)/certs/\(named)"
            )
        }
        try directory.write(
            "config/config.yaml",
            text.replacingOccurrences(of: "/devo-collector", with: directory.path)
        )
        let (status, output, error) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config/config.yaml"],
            workingDirectory: directory.path,
            environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLEKEY123456", "AWS_SECRET_ACCESS_KEY": "secret"]
        )
        #expect(status == 0, "\(output)\(error)")
    }

    static func output(of executable: String, _ arguments: [String]) async throws -> String {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let file = "\(directory.path)/out"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: file)
        // A miss (dpkg -S on a path usrmerge hides) is an empty answer, tried again by the caller, not noise in
        // the suite's output.
        process.standardError = FileHandle.nullDevice
        try process.runAlone()
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        return try String(contentsOfFile: file, encoding: .utf8)
    }
}
